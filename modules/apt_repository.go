package modules

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
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
	present := p.String("state") != "absent"
	src := "/etc/apt/sources.list.d/" + name + ".sources"
	asc, gpg := "/etc/apt/keyrings/"+name+".asc", "/etc/apt/keyrings/"+name+".gpg"

	var key []byte
	switch {
	case p.Has("key") && p.Has("key_src"):
		return nil, fmt.Errorf("apt_repository %s: give key or key_src, not both", name)
	case p.Has("key"):
		key = []byte(p.String("key"))
	case p.Has("key_src"):
		f := p.String("key_src")
		if !filepath.IsAbs(f) {
			f = filepath.Join(t.Dir, f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("apt_repository %s: key_src: %w", name, err)
		}
		key = b
	}
	keyFile, otherKey := "", ""
	if len(key) > 0 {
		keyFile, otherKey = gpg, asc
		if aptRepoArmored(key) {
			keyFile, otherKey = asc, gpg
		}
	} else if present && len(key) == 0 && (p.Has("key") || p.Has("key_src")) {
		return nil, fmt.Errorf("apt_repository %s: the key is empty", name)
	}

	var want string
	if present {
		uris, suites := hpStrings(p, "uris"), hpStrings(p, "suites")
		if len(uris) == 0 || len(suites) == 0 {
			return nil, fmt.Errorf("apt_repository %s: uris and suites are required with state present", name)
		}
		for _, s := range append(append(append([]string{}, uris...), suites...), append(hpStrings(p, "components"), hpStrings(p, "architectures")...)...) {
			if s == "" || strings.ContainsAny(s, " \t\n") {
				return nil, fmt.Errorf("apt_repository %s: %q: uris, suites, components and architectures must be single words", name, s)
			}
		}
		types := hpStrings(p, "types")
		for _, ty := range types {
			if ty != "deb" && ty != "deb-src" {
				return nil, fmt.Errorf("apt_repository %s: types: %q is neither deb nor deb-src", name, ty)
			}
		}
		want = aptRepoSources(types, uris, suites, hpStrings(p, "components"), hpStrings(p, "architectures"), keyFile)
	}

	// One round trip: the three files (keys in base64: they may be binary).
	var sc strings.Builder
	for sn, f := range map[string]string{"src": src, "asc": asc, "gpg": gpg} {
		fmt.Fprintf(&sc, "if [ -e %s ]; then %s; base64 -w0 %s; fi\n", f, hpSection(sn), f)
	}
	sc.WriteString("true\n")
	out, err := Sh(ctx, t, sc.String())
	if err != nil {
		return nil, fmt.Errorf("apt_repository %s: reading current files: %w", name, err)
	}
	sec := hpSections(out)
	files := map[string][]byte{}
	for sn, f := range map[string]string{"src": src, "asc": asc, "gpg": gpg} {
		if v, ok := sec[sn]; ok {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("apt_repository %s: reading %s: %w", name, f, err)
			}
			files[f] = b
		}
	}

	res := &Result{Outputs: map[string]any{"sources_file": src, "key_file": keyFile}}
	var writes []string
	var removes []string
	var diff strings.Builder
	if present {
		if old, ok := files[src]; !ok || string(old) != want {
			writes = append(writes, src)
			diff.WriteString(FileDiff(src, string(old), want))
		}
		if keyFile != "" {
			if old, ok := files[keyFile]; !ok || !bytes.Equal(old, key) {
				writes = append(writes, keyFile)
				if aptRepoArmored(key) {
					diff.WriteString(FileDiff(keyFile, string(old), string(key)))
				} else {
					fmt.Fprintf(&diff, "%s: binary key (%d bytes) replaced\n", keyFile, len(key))
				}
			}
			if _, ok := files[otherKey]; ok {
				removes = append(removes, otherKey) // the key changed format
			}
		}
	} else {
		for _, f := range []string{src, asc, gpg} {
			if old, ok := files[f]; ok {
				removes = append(removes, f)
				if f == src || aptRepoArmored(old) {
					diff.WriteString(FileDiff(f, string(old), ""))
				}
			}
		}
	}
	for _, f := range removes {
		if present {
			fmt.Fprintf(&diff, "remove %s\n", f)
		}
	}
	if len(writes) == 0 && len(removes) == 0 {
		res.Msg = "repository " + name + " already " + p.String("state")
		return res, nil
	}
	res.Changed = true
	var notes []string
	if len(writes) > 0 {
		notes = append(notes, "write "+strings.Join(writes, ", "))
	}
	if len(removes) > 0 {
		notes = append(notes, "remove "+strings.Join(removes, ", "))
	}
	res.Msg = strings.Join(notes, "; ")
	if t.Diff {
		res.Diff = diff.String()
	}
	if t.Check {
		return res, nil
	}
	// The key first: a sources file naming a missing key breaks apt-get update.
	for i := len(writes) - 1; i >= 0; i-- {
		f := writes[i]
		data := []byte(want)
		if f != src {
			data = key
		}
		if err := hpWriteFile(ctx, t, f, data, 0o644); err != nil {
			return nil, fmt.Errorf("apt_repository %s: writing %s: %w", name, f, err)
		}
	}
	if len(removes) > 0 {
		q := make([]string, len(removes))
		for i, f := range removes {
			q[i] = Quote(f)
		}
		if _, err := Sh(ctx, t, "rm -f "+strings.Join(q, " ")); err != nil {
			return nil, fmt.Errorf("apt_repository %s: removing %s: %w", name, strings.Join(removes, ", "), err)
		}
	}
	return res, nil
}
