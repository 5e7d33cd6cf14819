package modules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func init() {
	Register(&Module{
		Name: "apt",
		Doc: `Install, upgrade or remove Debian/Ubuntu packages with apt-get.
The installed state of every listed package is read with one dpkg-query; apt-get
runs only when something must change (always with DEBIAN_FRONTEND=noninteractive,
keeping existing config files). A "name=version" entry pins that version. With
state = "latest" a simulation (apt-get -s) tells whether upgrades exist. In
check mode the install is simulated, so an unknown package fails there too.
apt-get waits up to lock_timeout seconds for the dpkg lock (held e.g. by
unattended-upgrades) instead of failing at once.

update_cache refreshes the package lists first, unless they are younger than
cache_valid_time seconds. Unlike Ansible, a cache update alone is not reported
as a change: it alters no configuration, and counting it would make every
re-run "changed" (the message says when the cache was updated). In check mode
the cache is not updated (that would write to the host); the prediction uses
the current lists.

    apt(hosts("all"), packages = ["docker.io", "ufw"], update_cache = True,
        cache_valid_time = 3600)`,
		Params: []Param{
			{Name: "packages", Type: List, Doc: `package names; "name=version" pins a version`},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent", "latest"}, Doc: "present: installed (pinned version if given); latest: installed and upgraded to the candidate; absent: removed"},
			{Name: "update_cache", Type: Bool, Default: false, Doc: "run apt-get update first"},
			{Name: "cache_valid_time", Type: Int, Default: int64(0), Doc: "with update_cache: skip the update while the lists are younger than this many seconds (0: always update)"},
			{Name: "install_recommends", Type: Bool, Default: false, Doc: "also install recommended packages"},
			{Name: "purge", Type: Bool, Default: false, Doc: "with state absent: also remove configuration files"},
			{Name: "lock_timeout", Type: Int, Default: int64(300), Doc: "seconds apt-get waits for the dpkg lock (DPkg::Lock::Timeout)"},
		},
		Outputs: map[string]string{"installed": "packages installed or upgraded (or that would be)", "removed": "packages removed (or that would be)", "cache_updated": "whether apt-get update ran"},
		Run:     runApt,
	})
}

// aptPkg is one requested package.
type aptPkg struct{ Name, Version string }

func (p aptPkg) String() string {
	if p.Version != "" {
		return p.Name + "=" + p.Version
	}
	return p.Name
}

var (
	aptNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9\-]+)?$`)
	// A Debian version: [epoch:]upstream[-revision] (deb-version(7)).
	// Allow-listed, since it reaches shell text (also under --check).
	aptVersionRe = regexp.MustCompile(`^(?:[0-9]+:)?[0-9A-Za-z][0-9A-Za-z.+~-]*$`)
)

// aptParsePackages splits "name=version" entries and rejects names apt could
// not mean (and that would need quoting).
func aptParsePackages(list []string) ([]aptPkg, error) {
	var out []aptPkg
	for _, s := range list {
		n, v, _ := strings.Cut(strings.TrimSpace(s), "=")
		if !aptNameRe.MatchString(n) {
			return nil, fmt.Errorf("apt: invalid package name %q", s)
		}
		if v != "" && !aptVersionRe.MatchString(v) {
			return nil, fmt.Errorf("apt: invalid version in %q: a Debian version has only letters, digits and . + ~ - :", s)
		}
		out = append(out, aptPkg{n, v})
	}
	return out, nil
}

// aptQuery is a shell command that prints each named package as
// `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'` would.
// dpkg-query takes about 12 ms of CPU (it loads the whole database); awk
// reading the status file takes a quarter of that, which counts when a
// hundred hosts share a few cores. dpkg-query still answers when dpkg has
// unmerged journal entries in updates/ (an interrupted run), or for
// arch-qualified names.
func aptQuery(names []string) string {
	dq := "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' " + strings.Join(names, " ") + " 2>/dev/null"
	for _, n := range names {
		if strings.Contains(n, ":") {
			return dq
		}
	}
	// Records are paragraphs starting with "Package: NAME"; only ours are
	// split into fields (splitting all of them doubled awk's time).
	awk := `awk -v want=` + Quote(strings.Join(names, " ")) + ` 'BEGIN { RS = ""; n = split(want, w, " "); for (i = 1; i <= n; i++) want_[w[i]] = 1
  split("install i hold h deinstall r purge p unknown u", a, " "); for (i = 1; i < 10; i += 2) wa[a[i]] = a[i+1]
  split("not-installed n config-files c half-installed H unpacked U half-configured F triggers-awaited W triggers-pending t installed i", a, " "); for (i = 1; i < 16; i += 2) ab[a[i]] = a[i+1] }
{ p = substr($0, 10, index($0, "\n") - 10); if (substr($0, 1, 9) != "Package: " || !(p in want_)) next
  nf = split($0, f, "\n"); v = ""; st = ""; for (i = 2; i <= nf; i++) { if (f[i] ~ /^Version: /) v = substr(f[i], 10); else if (f[i] ~ /^Status: /) st = substr(f[i], 9) }
  k = split(st, x, " "); print p "\t" v "\t" wa[x[1]] ab[x[k]] (x[2] == "ok" ? " " : "R") }' /var/lib/dpkg/status`
	return `set -- /var/lib/dpkg/updates/[0-9]*; if [ -e "$1" ] || ! command -v awk >/dev/null 2>&1; then ` + dq + `; else ` + awk + `; fi`
}

// aptInstalled parses `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`
// into installed versions. Only packages whose status is installed (or
// installed with triggers pending) count; "rc" (config files only) and
// half-installed states do not.
func aptInstalled(out string) map[string]string {
	inst := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 3 || len(f[2]) < 2 {
			continue
		}
		switch f[2][1] {
		case 'i', 'W', 't':
			inst[f[0]] = f[1]
		}
	}
	return inst
}

// aptSimulated parses `apt-get -s` output: "Inst NAME [OLD] (NEW ...)" and
// "Remv NAME [OLD]" lines, as a readable +/-/~ list.
func aptSimulated(out string) (changes []string) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Inst":
			old, nv, i := "", "", 2
			if i < len(f) && strings.HasPrefix(f[i], "[") {
				old, i = strings.Trim(f[i], "[]"), i+1
			}
			if i < len(f) && strings.HasPrefix(f[i], "(") {
				nv = strings.TrimPrefix(f[i], "(")
			}
			if old != "" {
				changes = append(changes, fmt.Sprintf("~ %s %s -> %s", f[1], old, nv))
			} else {
				changes = append(changes, fmt.Sprintf("+ %s %s", f[1], nv))
			}
		case "Remv":
			changes = append(changes, "- "+f[1])
		}
	}
	return changes
}

// aptPlan decides what to install and remove from what is installed.
func aptPlan(pkgs []aptPkg, installed map[string]string, state string) (install, remove []aptPkg) {
	for _, p := range pkgs {
		name, _, _ := strings.Cut(p.Name, ":")
		v, ok := installed[name]
		if !ok {
			v, ok = installed[p.Name]
		}
		switch state {
		case "absent":
			if ok && (p.Version == "" || p.Version == v) {
				remove = append(remove, p)
			}
		default:
			if !ok || (p.Version != "" && p.Version != v) {
				install = append(install, p)
			}
		}
	}
	return install, remove
}

// aptGetOpts are the options every apt-get call gets.
func aptGetOpts(p Params) string {
	o := fmt.Sprintf("-y -q -o DPkg::Lock::Timeout=%d -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold", p.Int("lock_timeout"))
	if p.Bool("install_recommends") {
		o += " -o APT::Install-Recommends=true"
	} else {
		o += " --no-install-recommends"
	}
	return o
}

const aptEnv = "export DEBIAN_FRONTEND=noninteractive LC_ALL=C NEEDRESTART_MODE=a\n"

// aptUnknown turns apt's "Unable to locate package X" into a clear error.
var aptUnknownRe = regexp.MustCompile(`(?:Unable to locate package|has no installation candidate|Version '[^']*' for '[^']*' was not found)[^\n]*`)

func aptError(what string, err error, out string) error {
	return fmt.Errorf("apt: %s: %w", what, aptDetail(err, out))
}

// aptDetail is apt's own words for a failure when it has them, else err.
func aptDetail(err error, out string) error {
	text := out
	if ee, ok := err.(*ExitError); ok {
		text += "\n" + ee.Stderr + "\n" + ee.Stdout
	}
	if m := aptUnknownRe.FindAllString(text, -1); len(m) > 0 {
		var uniq []string
		for _, x := range m {
			if !slices.Contains(uniq, x) {
				uniq = append(uniq, x)
			}
		}
		return errors.New(strings.Join(uniq, "; "))
	}
	return err
}

func aptNames(ps []aptPkg) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = Quote(p.String()) // allow-listed already; quoted all the same
	}
	return out
}

func runApt(ctx context.Context, t *Target, p Params) (*Result, error) {
	pkgs, err := aptParsePackages(p.Strings("packages"))
	if err != nil {
		return nil, err
	}
	state := p.String("state")
	obs, err := aptObserve(ctx, t, p, pkgs)
	if err != nil {
		return nil, err
	}
	res := &Result{Outputs: map[string]any{"installed": []any{}, "removed": []any{}, "cache_updated": false}}
	plan := NewPlan("apt", "")
	if len(pkgs) > 0 {
		plan.Unchanged = "packages already " + state
	}
	if p.Bool("update_cache") {
		// Updating the cache is no change (it alters no configuration):
		// a note, done before the plan, which it may change.
		if obs, err = aptUpdateCache(ctx, t, p, pkgs, obs, plan, res); err != nil {
			return nil, err
		}
	}
	install, remove, diff, err := aptChanges(ctx, t, p, pkgs, obs)
	if err != nil {
		return nil, err
	}
	inst := make([]any, len(install))
	for i, pk := range install {
		inst[i] = pk.String()
	}
	rem := make([]any, len(remove))
	for i, pk := range remove {
		rem[i] = pk.Name
	}
	res.Outputs["installed"], res.Outputs["removed"] = inst, rem
	aptPlanChanges(t, p, plan, install, remove, diff)
	return plan.Apply(ctx, t, res)
}

// aptObserved is the host's package state.
type aptObserved struct {
	installed map[string]string // name -> version
	age       int64             // of the cache in seconds, -1 unknown
	sim       []string          // for "latest": the simulated changes
}

// aptObserve reads in one round trip the installed versions, the cache age
// and, for "latest", the simulation that shows pending upgrades.
func aptObserve(ctx context.Context, t *Target, p Params, pkgs []aptPkg) (aptObserved, error) {
	var names []string
	for _, pk := range pkgs {
		names = append(names, pk.Name)
	}
	sort.Strings(names)
	var sc strings.Builder
	sc.WriteString(aptEnv)
	if p.Bool("update_cache") {
		sc.WriteString(hpSection("now") + "; date +%s\n")
		sc.WriteString(hpSection("cache") + "; stat -c %Y /var/cache/apt/pkgcache.bin /var/lib/apt/lists 2>/dev/null\n")
	}
	if len(names) > 0 {
		sc.WriteString(hpSection("dpkg") + "; " + aptQuery(names) + "\n")
		if p.String("state") == "latest" {
			sc.WriteString(hpSection("sim") + "; apt-get -s " + aptGetOpts(p) + " install " + strings.Join(aptNames(pkgs), " ") + " 2>&1; echo \"rc=$?\"\n")
		}
	}
	sc.WriteString("true\n")
	out, err := Sh(ctx, t, sc.String())
	if err != nil {
		return aptObserved{}, fmt.Errorf("apt: reading package state: %w", err)
	}
	sec := hpSections(out)
	now, _ := strconv.ParseInt(strings.TrimSpace(sec["now"]), 10, 64)
	var newest int64
	for _, f := range strings.Fields(sec["cache"]) {
		if v, _ := strconv.ParseInt(f, 10, 64); v > newest {
			newest = v
		}
	}
	obs := aptObserved{installed: aptInstalled(sec["dpkg"]), age: -1}
	if newest > 0 {
		obs.age = now - newest
	}
	if s, ok := sec["sim"]; ok {
		if !strings.Contains(s, "rc=0") {
			return aptObserved{}, aptError("simulating install of "+strings.Join(aptNames(pkgs), " "), fmt.Errorf("%s", strings.TrimSpace(s)), s)
		}
		obs.sim = aptSimulated(s)
	}
	return obs, nil
}

// aptUpdateCache runs apt-get update unless the cache is fresh enough (in
// check mode it only says it would) and observes again for "latest": new
// lists may mean new candidates.
func aptUpdateCache(ctx context.Context, t *Target, p Params, pkgs []aptPkg, obs aptObserved, plan *Plan, res *Result) (aptObserved, error) {
	valid := p.Int("cache_valid_time")
	switch {
	case valid > 0 && obs.age >= 0 && obs.age < valid:
		plan.Note(fmt.Sprintf("cache is %d s old, valid for %d s", obs.age, valid))
		return obs, nil
	case t.Check:
		plan.Note("would update the cache")
		return obs, nil
	}
	if out, err := Sh(ctx, t, aptEnv+"apt-get -q "+fmt.Sprintf("-o DPkg::Lock::Timeout=%d", p.Int("lock_timeout"))+" update 2>&1"); err != nil {
		return obs, aptError("apt-get update", err, out)
	}
	res.Outputs["cache_updated"] = true
	plan.Note("cache updated")
	if p.String("state") == "latest" && len(pkgs) > 0 {
		return aptObserve(ctx, t, p, pkgs)
	}
	return obs, nil
}

// aptChanges is what to install and remove, with the diff lines ("+ pkg",
// "~ pkg old -> new", "- pkg version"; apt's own for a simulation).
func aptChanges(ctx context.Context, t *Target, p Params, pkgs []aptPkg, obs aptObserved) (install, remove []aptPkg, diff []string, err error) {
	install, remove = aptPlan(pkgs, obs.installed, p.String("state"))
	switch {
	case p.String("state") == "latest":
		// Install what the simulation touches among the named packages
		// (others in it are dependencies, which apt-get pulls in itself).
		diff, install = obs.sim, nil
		for _, pk := range pkgs {
			for _, c := range obs.sim {
				if f := strings.Fields(c); len(f) > 1 && f[0] != "-" && (f[1] == pk.Name || strings.HasPrefix(f[1], pk.Name+":")) {
					install = append(install, pk)
					break
				}
			}
		}
		if len(install) == 0 && len(obs.sim) > 0 {
			install = pkgs // only dependencies move: still a change
		}
	case len(install) > 0 && t.Check:
		// Simulate so the prediction fails where the real run would (an
		// unknown package or version) and lists dependencies too.
		out, err := Sh(ctx, t, aptEnv+"apt-get -s "+aptGetOpts(p)+" install --allow-downgrades "+strings.Join(aptNames(install), " ")+" 2>&1")
		if err != nil {
			return nil, nil, nil, aptError("cannot install "+strings.Join(aptNames(install), " "), err, out)
		}
		diff = aptSimulated(out)
	case len(install) > 0:
		for _, pk := range install {
			if v, ok := obs.installed[pk.Name]; ok {
				diff = append(diff, fmt.Sprintf("~ %s %s -> %s", pk.Name, v, pk.Version))
			} else {
				diff = append(diff, "+ "+pk.String())
			}
		}
	}
	for _, pk := range remove {
		diff = append(diff, "- "+pk.Name+" "+obs.installed[pk.Name])
	}
	return install, remove, diff, nil
}

// aptPlanChanges adds "install A B" or "remove A B" (one apt-get run);
// the diff lines go with it.
func aptPlanChanges(t *Target, p Params, plan *Plan, install, remove []aptPkg, diff []string) {
	text := ""
	if len(diff) > 0 {
		text = strings.Join(diff, "\n") + "\n"
	}
	run := func(cmd string) func(context.Context) error {
		return func(ctx context.Context) error {
			if out, err := Sh(ctx, t, aptEnv+"apt-get "+aptGetOpts(p)+" "+cmd+" 2>&1"); err != nil {
				return aptDetail(err, out)
			}
			return nil
		}
	}
	if len(install) > 0 {
		plan.Add("install "+strings.Join(aptNames(install), " "), text, run("install --allow-downgrades "+strings.Join(aptNames(install), " ")))
		return
	}
	if len(remove) > 0 {
		verb := "remove"
		if p.Bool("purge") {
			verb = "purge"
		}
		var rn []string
		for _, pk := range remove {
			rn = append(rn, pk.Name)
		}
		plan.Add("remove "+strings.Join(aptNames(remove), " "), text, run(verb+" "+strings.Join(rn, " ")))
	}
}
