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
	lines := strings.SplitAfter(content, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	seen := map[string]bool{}
	var out strings.Builder
	for _, l := range lines {
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
	want := map[string]string{}
	var keys []string
	for k, v := range p.Dict("values") {
		key := sysctlKey(k)
		if key == "" || strings.ContainsAny(key, " \t\n'\"$`\\") || strings.Contains(key, "..") {
			return nil, fmt.Errorf("sysctl: invalid key %q", k)
		}
		want[key] = sysctlValue(v)
		keys = append(keys, key)
	}
	sort.Strings(keys)
	file := p.String("file")
	reload := p.Bool("reload")

	// One round trip and one process: every live value and the file.
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
		return nil, fmt.Errorf("sysctl: reading current values: %w", err)
	}
	sec := hpSections(out)
	if m := strings.Fields(sec["missing"]); len(m) > 0 {
		return nil, fmt.Errorf("sysctl: unknown key %s (no %s on %s)", m[0], sysctlProcPath(m[0]), t.Name)
	}
	files := hpFiles(sec["files"], paths)
	live := map[string]string{}
	for _, k := range keys {
		// An unreadable key (write-only) reads as "": it differs, and
		// writing it says what is wrong.
		live[k] = sysctlValue(strings.TrimSpace(files[sysctlProcPath(k)]))
	}

	res := &Result{Outputs: map[string]any{}}
	var notes []string
	var diff strings.Builder

	// The file.
	var newFile string
	fileChanged := false
	if file != "" {
		old, exists := files[file]
		newFile = sysctlEditFile(old, want)
		if newFile != old || !exists {
			fileChanged = true
			notes = append(notes, "updated "+file)
			if t.Diff {
				diff.WriteString(FileDiff(file, old, newFile))
			}
		}
	}

	// Live values.
	var update []string
	if reload {
		for _, k := range keys {
			if live[k] != want[k] {
				update = append(update, k)
				if t.Diff {
					fmt.Fprintf(&diff, "live %s: %s -> %s\n", k, live[k], want[k])
				}
			}
		}
	}
	if len(update) > 0 {
		notes = append(notes, "set live: "+strings.Join(update, ", "))
	}
	upd := make([]any, len(update))
	for i, k := range update {
		upd[i] = k
	}
	res.Outputs["updated"] = upd
	res.Changed = fileChanged || len(update) > 0
	res.Diff = diff.String()
	if !res.Changed {
		res.Msg = "all values already set"
		return res, nil
	}
	res.Msg = strings.Join(notes, "; ")
	if t.Check {
		return res, nil
	}

	if fileChanged {
		if err := hpWriteFile(ctx, t, file, []byte(newFile), 0o644); err != nil {
			return nil, fmt.Errorf("sysctl: writing %s: %w", file, err)
		}
	}
	if len(update) > 0 {
		// Write through /proc/sys (no dependency on procps) and read every
		// value back in the same round trip.
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
			return nil, fmt.Errorf("sysctl: setting %s: %w", strings.Join(update, ", "), err)
		}
		back := hpSections(out)
		for _, k := range update {
			if got := sysctlValue(strings.TrimSpace(back["key "+k])); got != want[k] {
				return nil, fmt.Errorf("sysctl: %s was set to %q but reads back %q (the kernel refused or adjusted it)", k, want[k], got)
			}
		}
	}
	return res, nil
}
