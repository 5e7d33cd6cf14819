package modules

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

func init() {
	Register(&Module{
		Name: "sysctl",
		Doc: `Set kernel parameters live and persist them in a sysctl.d file.
Each key is read from /proc/sys first; only keys whose live value differs are
written, and each written value is read back and compared (the kernel may clamp
or refuse a value). The file keeps its other lines and comments; an existing
line for a key is replaced in place, new keys are appended. Values are compared
after normalising whitespace, so "1024 65000" matches the kernel's
"1024\t65000". A key with no /proc/sys entry fails, naming the key.
Note: net.* keys are per network namespace, most others (vm.*, kernel.*) are
global to the machine.

    sysctl(hosts("all"), file = "/etc/sysctl.d/99-docker-swarm.conf",
           values = {"net.ipv4.ip_forward": 1, "vm.max_map_count": 262144})`,
		Params: []Param{
			{Name: "values", Type: Dict, Required: true, Doc: "keys (dotted, e.g. net.ipv4.ip_forward) to values; ints, strings, bools (1/0) or lists (joined by spaces)"},
			{Name: "file", Type: String, Default: "/etc/sysctl.d/99-swarmrun.conf", Doc: "file the values are persisted in; \"\" to only set them live"},
			{Name: "reload", Type: Bool, Default: true, Doc: "also set the live values (only keys whose live value differs); False only edits the file"},
		},
		Outputs: map[string]string{"updated": "keys whose live value was (or in check mode would be) set"},
		Run:     runSysctl,
	})
}

// sysctlKey turns "net/ipv4/ip_forward" or "net.ipv4.ip_forward" into the
// dotted form, which is how keys are compared and written to files.
func sysctlKey(k string) string {
	k = strings.TrimSpace(k)
	if strings.Contains(k, "/") {
		return strings.ReplaceAll(strings.Trim(k, "/"), "/", ".")
	}
	return k
}

// sysctlProcPath is the /proc/sys file for a dotted key.
func sysctlProcPath(k string) string { return "/proc/sys/" + strings.ReplaceAll(k, ".", "/") }

// sysctlValue normalises a value the way the kernel prints it: fields
// separated by one space (multi-value keys print tabs), bools as 1/0.
func sysctlValue(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = sysctlValue(e)
		}
		return strings.Join(parts, " ")
	default:
		return strings.Join(strings.Fields(hpScalar(v)), " ")
	}
}

// sysctlEditFile returns content with each key of want set: existing lines for
// the key are replaced in place (comments and other lines kept), missing keys
// appended in sorted order.
func sysctlEditFile(content string, want map[string]string) string {
	seen := map[string]bool{}
	var out strings.Builder
	for _, l := range fileLines(content) {
		k, _, ok := sysctlParseLine(l)
		if ok {
			if v, mine := want[k]; mine {
				seen[k] = true
				l = k + " = " + v + "\n"
			}
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		out.WriteString(l)
	}
	var missing []string
	for k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 && out.Len() == 0 {
		out.WriteString("# Managed by swarmrun (sysctl module).\n")
	}
	for _, k := range missing {
		out.WriteString(k + " = " + want[k] + "\n")
	}
	return out.String()
}

// sysctlParseLine parses "key = value" (sysctl.conf(5); a leading "-" means
// "ignore errors"); comments and blank lines give ok=false.
func sysctlParseLine(l string) (key, value string, ok bool) {
	s := strings.TrimSpace(l)
	if s == "" || s[0] == '#' || s[0] == ';' {
		return "", "", false
	}
	k, v, found := strings.Cut(s, "=")
	if !found {
		return "", "", false
	}
	k = strings.TrimPrefix(strings.TrimSpace(k), "-")
	return sysctlKey(k), sysctlValue(strings.TrimSpace(v)), true
}

func runSysctl(ctx context.Context, t *Target, p Params) (*Result, error) {
	want, keys, err := sysctlWant(p)
	if err != nil {
		return nil, err
	}
	file := p.String("file")
	live, files, err := sysctlObserve(ctx, t, keys, file)
	if err != nil {
		return nil, err
	}
	plan, update := sysctlPlan(t, want, keys, live, files, file, p.Bool("reload"))
	upd := make([]any, len(update))
	for i, k := range update {
		upd[i] = k
	}
	return plan.Apply(ctx, t, &Result{Outputs: map[string]any{"updated": upd}})
}

// sysctlWant is the values parameter with dotted keys and kernel-style
// values, and its keys sorted.
func sysctlWant(p Params) (map[string]string, []string, error) {
	want := map[string]string{}
	var keys []string
	for k, v := range p.Dict("values") {
		key := sysctlKey(k)
		if key == "" || strings.ContainsAny(key, " \t\n'\"$`\\") || strings.Contains(key, "..") {
			return nil, nil, fmt.Errorf("sysctl: invalid key %q", k)
		}
		want[key] = sysctlValue(v)
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return want, keys, nil
}

// sysctlObserve reads every live value and the file in one round trip and
// one process. A key with no /proc/sys entry is an error.
func sysctlObserve(ctx context.Context, t *Target, keys []string, file string) (live, files map[string]string, err error) {
	var sc strings.Builder
	var paths []string
	sc.WriteString(hpSection("missing") + "\n")
	for _, k := range keys {
		pp := sysctlProcPath(k)
		fmt.Fprintf(&sc, "[ -f %s ] || echo %s\n", Quote(pp), Quote(k))
		paths = append(paths, pp)
	}
	if file != "" {
		paths = append(paths, file)
	}
	sc.WriteString(hpSection("files") + "; " + hpReadFiles(paths...) + "\ntrue\n")
	out, err := Sh(ctx, t, sc.String())
	if err != nil {
		return nil, nil, fmt.Errorf("sysctl: reading current values: %w", err)
	}
	sec := hpSections(out)
	if m := strings.Fields(sec["missing"]); len(m) > 0 {
		return nil, nil, fmt.Errorf("sysctl: unknown key %s (no %s on %s)", m[0], sysctlProcPath(m[0]), t.Name)
	}
	files = hpFiles(sec["files"], paths)
	live = map[string]string{}
	for _, k := range keys {
		// An unreadable key (write-only) reads as "": it differs, and
		// writing it says what is wrong.
		live[k] = sysctlValue(strings.TrimSpace(files[sysctlProcPath(k)]))
	}
	return live, files, nil
}

// sysctlPlan is the file to update and the live keys to set (returned too,
// for the updated output).
func sysctlPlan(t *Target, want map[string]string, keys []string, live, files map[string]string, file string, reload bool) (*Plan, []string) {
	plan := NewPlan("sysctl", "all values already set")
	if file != "" {
		old, exists := files[file]
		newFile := sysctlEditFile(old, want)
		if newFile != old || !exists {
			plan.UpdateFile(t, file, old, newFile, 0o644)
		}
	}
	var update []string
	var diff strings.Builder
	for _, k := range keys {
		if reload && live[k] != want[k] {
			update = append(update, k)
			fmt.Fprintf(&diff, "live %s: %s -> %s\n", k, live[k], want[k])
		}
	}
	if len(update) > 0 {
		plan.Add("set live: "+strings.Join(update, ", "), diff.String(), func(ctx context.Context) error {
			return sysctlSetLive(ctx, t, want, update)
		})
	}
	return plan, update
}

// sysctlSetLive writes through /proc/sys (no dependency on procps) and reads
// every value back in the same round trip: the kernel may clamp or refuse.
func sysctlSetLive(ctx context.Context, t *Target, want map[string]string, update []string) error {
	var w strings.Builder
	for _, k := range update {
		pp := sysctlProcPath(k)
		fmt.Fprintf(&w, "printf '%%s\\n' %s > %s || echo \"write failed: %s\" >&2\n", Quote(want[k]), Quote(pp), k)
	}
	for _, k := range update {
		fmt.Fprintf(&w, "%s; cat %s\n", hpSection("key "+k), Quote(sysctlProcPath(k)))
	}
	out, err := Sh(ctx, t, w.String())
	if err != nil {
		return err
	}
	back := hpSections(out)
	for _, k := range update {
		if got := sysctlValue(strings.TrimSpace(back["key "+k])); got != want[k] {
			return fmt.Errorf("%s was set to %q but reads back %q (the kernel refused or adjusted it)", k, want[k], got)
		}
	}
	return nil
}
