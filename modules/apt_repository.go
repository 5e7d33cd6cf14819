package modules

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

func init() {
	Register(&Module{
		Name: "apt_repository",
		Doc: `Add (or remove) an APT repository as a deb822 .sources file with its signing key.
The key (ASCII-armored or binary OpenPGP) goes to /etc/apt/keyrings/NAME.asc
(armored) or NAME.gpg (binary) and the repository to
/etc/apt/sources.list.d/NAME.sources with a Signed-By: line naming that key, so
the key is trusted for this repository only. Both files are read in one round
trip and written only when their content differs. The package lists are not
updated here: a later apt step with update_cache = True does that, on the hosts
where this step changed something:

    repo = apt_repository(hosts("all"), name = "docker", key_src = "keys/docker.asc",
                          uris = ["https://download.docker.com/linux/debian"],
                          suites = ["bookworm"], components = ["stable"])
    apt(repo.changed, packages = [], update_cache = True)`,
		Params: []Param{
			{Name: "name", Type: String, Required: true, Doc: "repository name: the base name of the .sources and key files"},
			{Name: "key", Type: String, Doc: "the signing key itself, ASCII-armored or binary"},
			{Name: "key_src", Type: String, Doc: "file holding the signing key, relative to the playbook's directory"},
			{Name: "uris", Type: Any, Doc: "repository URI(s): a string or a list"},
			{Name: "suites", Type: Any, Doc: "suite(s), e.g. bookworm; a string or a list"},
			{Name: "components", Type: Any, Doc: "component(s), e.g. stable or main; a string or a list (none for a flat repository)"},
			{Name: "architectures", Type: Any, Doc: "restrict to these architectures, e.g. amd64"},
			{Name: "types", Type: Any, Default: []any{"deb"}, Doc: "deb and/or deb-src"},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "present: the files are in place; absent: both are removed"},
		},
		Outputs: map[string]string{"sources_file": "path of the .sources file", "key_file": "path of the key file (\"\" without a key)"},
		Run:     runAptRepository,
	})
}

var aptRepoNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]*$`)

// aptRepoArmored tells an ASCII-armored key from a binary one.
func aptRepoArmored(key []byte) bool {
	return bytes.Contains(key[:min(len(key), 200)], []byte("-----BEGIN PGP"))
}

// aptRepoSources renders the deb822 stanza.
func aptRepoSources(types, uris, suites, components, archs []string, signedBy string) string {
	var b strings.Builder
	b.WriteString("# Managed by swarmrun (apt_repository module).\n")
	b.WriteString("Types: " + strings.Join(types, " ") + "\n")
	b.WriteString("URIs: " + strings.Join(uris, " ") + "\n")
	b.WriteString("Suites: " + strings.Join(suites, " ") + "\n")
	if len(components) > 0 {
		b.WriteString("Components: " + strings.Join(components, " ") + "\n")
	}
	if len(archs) > 0 {
		b.WriteString("Architectures: " + strings.Join(archs, " ") + "\n")
	}
	if signedBy != "" {
		b.WriteString("Signed-By: " + signedBy + "\n")
	}
	return b.String()
}

func runAptRepository(ctx context.Context, t *Target, p Params) (*Result, error) {
	name := p.String("name")
	if !aptRepoNameRe.MatchString(name) {
		return nil, fmt.Errorf("apt_repository: invalid name %q (letters, digits, . _ -)", name)
	}
	plan := NewPlan("apt_repository "+name, "repository "+name+" already "+p.String("state"))
	present := p.String("state") != "absent"
	r := aptRepoFiles{src: "/etc/apt/sources.list.d/" + name + ".sources", asc: "/etc/apt/keyrings/" + name + ".asc", gpg: "/etc/apt/keyrings/" + name + ".gpg"}
	key, err := aptRepoKey(t, p, plan)
	if err != nil {
		return nil, err
	}
	keyFile, otherKey := "", ""
	if len(key) > 0 {
		keyFile, otherKey = r.gpg, r.asc
		if aptRepoArmored(key) {
			keyFile, otherKey = r.asc, r.gpg
		}
	}
	var want string
	if present {
		if want, err = aptRepoWant(p, plan, keyFile); err != nil {
			return nil, err
		}
	}
	files, err := aptRepoObserve(ctx, t, plan, r)
	if err != nil {
		return nil, err
	}
	var removes []string
	if present {
		removes = aptRepoPlanPresent(t, plan, files, r.src, want, keyFile, otherKey, key)
	} else {
		removes = aptRepoPlanAbsent(files, r)
	}
	aptRepoPlanRemove(t, plan, files, removes, present, r.src)
	return plan.Apply(ctx, t, &Result{Outputs: map[string]any{"sources_file": r.src, "key_file": keyFile}})
}

// aptRepoFiles are a repository's sources file and its two possible key files.
type aptRepoFiles struct{ src, asc, gpg string }

// aptRepoKey is the key given inline or in key_src (relative to the
// playbook's directory); nil when none is.
func aptRepoKey(t *Target, p Params, plan *Plan) ([]byte, error) {
	var key []byte
	switch {
	case p.Has("key") && p.Has("key_src"):
		return nil, plan.Errorf("give key or key_src, not both")
	case p.Has("key"):
		key = []byte(p.String("key"))
	case p.Has("key_src"):
		b, err := readSrc(t, p.String("key_src"))
		if err != nil {
			return nil, plan.Errorf("key_src: %w", err)
		}
		key = b
	}
	if len(key) == 0 && p.String("state") != "absent" && (p.Has("key") || p.Has("key_src")) {
		return nil, plan.Errorf("the key is empty")
	}
	return key, nil
}

// aptRepoWant is the deb822 sources file for the parameters.
func aptRepoWant(p Params, plan *Plan, keyFile string) (string, error) {
	uris, suites := hpStrings(p, "uris"), hpStrings(p, "suites")
	if len(uris) == 0 || len(suites) == 0 {
		return "", plan.Errorf("uris and suites are required with state present")
	}
	for _, s := range append(append(append([]string{}, uris...), suites...), append(hpStrings(p, "components"), hpStrings(p, "architectures")...)...) {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return "", plan.Errorf("%q: uris, suites, components and architectures must be single words", s)
		}
	}
	types := hpStrings(p, "types")
	for _, ty := range types {
		if ty != "deb" && ty != "deb-src" {
			return "", plan.Errorf("types: %q is neither deb nor deb-src", ty)
		}
	}
	return aptRepoSources(types, uris, suites, hpStrings(p, "components"), hpStrings(p, "architectures"), keyFile), nil
}

// aptRepoObserve reads the three files in one round trip (keys in base64:
// they may be binary); a missing file is absent from the map.
func aptRepoObserve(ctx context.Context, t *Target, plan *Plan, r aptRepoFiles) (map[string][]byte, error) {
	paths := map[string]string{"src": r.src, "asc": r.asc, "gpg": r.gpg}
	var sc strings.Builder
	for sn, f := range paths {
		fmt.Fprintf(&sc, "if [ -e %s ]; then %s; base64 -w0 %s; fi\n", f, hpSection(sn), f)
	}
	sc.WriteString("true\n")
	out, err := Sh(ctx, t, sc.String())
	if err != nil {
		return nil, plan.Errorf("reading current files: %w", err)
	}
	sec := hpSections(out)
	files := map[string][]byte{}
	for sn, f := range paths {
		if v, ok := sec[sn]; ok {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil {
				return nil, plan.Errorf("reading %s: %w", f, err)
			}
			files[f] = b
		}
	}
	return files, nil
}

// aptRepoPlanPresent plans the key, then the sources file (a sources file
// naming a missing key breaks apt-get update), and returns the key file of
// the other format to remove (the key changed format).
func aptRepoPlanPresent(t *Target, plan *Plan, files map[string][]byte, src, want, keyFile, otherKey string, key []byte) []string {
	var removes []string
	if keyFile != "" {
		if old, ok := files[keyFile]; !ok || !bytes.Equal(old, key) {
			diff := fmt.Sprintf("%s: binary key (%d bytes) replaced\n", keyFile, len(key))
			if aptRepoArmored(key) {
				diff = FileDiff(keyFile, string(old), string(key))
			}
			plan.Add("update "+keyFile, diff, func(ctx context.Context) error {
				return hpWriteFile(ctx, t, keyFile, key, 0o644)
			})
		}
		if _, ok := files[otherKey]; ok {
			removes = append(removes, otherKey)
		}
	}
	if old, ok := files[src]; !ok || string(old) != want {
		plan.UpdateFile(t, src, string(old), want, 0o644)
	}
	return removes
}

// aptRepoPlanAbsent lists the repository's files that are there.
func aptRepoPlanAbsent(files map[string][]byte, r aptRepoFiles) []string {
	var removes []string
	for _, f := range []string{r.src, r.asc, r.gpg} {
		if _, ok := files[f]; ok {
			removes = append(removes, f)
		}
	}
	return removes
}

// aptRepoPlanRemove adds "remove A, B" (one rm); its diff shows a removed
// text file's content.
func aptRepoPlanRemove(t *Target, plan *Plan, files map[string][]byte, removes []string, present bool, src string) {
	if len(removes) == 0 {
		return
	}
	var diff strings.Builder
	q := make([]string, len(removes))
	for i, f := range removes {
		q[i] = Quote(f)
		switch {
		case present:
			fmt.Fprintf(&diff, "remove %s\n", f)
		case f == src || aptRepoArmored(files[f]):
			diff.WriteString(FileDiff(f, string(files[f]), ""))
		}
	}
	plan.Add("remove "+strings.Join(removes, ", "), diff.String(), func(ctx context.Context) error {
		_, err := Sh(ctx, t, "rm -f "+strings.Join(q, " "))
		return err
	})
}
