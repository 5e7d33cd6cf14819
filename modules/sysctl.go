package modules

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
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

// ---- helpers shared by the host-preparation modules (apt, apt_repository,
// ufw, sysctl, modprobe, daemon_json, limits). They are prefixed "hp" so they
// do not clash with other module files in this package.

// hpMarker starts a section in the output of a batched observation script,
// so one remote command can report many independent facts.
const hpMarker = "@@swarmrun-section@@"

// hpSection is a shell command printing the header of section name. The
// header starts on a fresh line even when the previous section's content did
// not end with a newline; hpSections removes that extra newline again, so a
// section holds a file's exact bytes.
func hpSection(name string) string { return "printf '\\n%s\\n' " + Quote(hpMarker+" "+name) }

// hpSections splits script output into its sections, keyed by name.
func hpSections(out string) map[string]string {
	sec := map[string]string{}
	var cur string
	var b strings.Builder
	inSec := false
	flush := func(next bool) {
		if inSec {
			s := b.String()
			if next {
				s = strings.TrimSuffix(s, "\n")
			}
			sec[cur] = s
		}
		b.Reset()
	}
	for _, l := range strings.SplitAfter(out, "\n") {
		if rest, ok := strings.CutPrefix(l, hpMarker+" "); ok {
			flush(true)
			cur, inSec = strings.TrimRight(rest, "\n"), true
			continue
		}
		b.WriteString(l)
	}
	flush(false)
	return sec
}

// hpCat is a shell command that prints a small text file exactly (no NUL
// bytes) with the shell's own read: no process, where an exec of cat costs
// more than reading a few hundred bytes a byte at a time. Not for /proc/sys
// (its number files end reads past the first byte) nor for large files.
func hpCat(path string) string {
	return `{ while IFS= read -r l; do printf '%s\n' "$l"; done; [ -z "$l" ] || printf %s "$l"; } <` + Quote(path)
}

// hpReadFiles is a shell command that prints several files with one process:
// `tail -v` puts a header before each file that it can read and leaves the
// bytes as they are. A `cat` per file was most of a no-op step's remote
// cost on a busy host. hpFiles splits the output.
func hpReadFiles(paths ...string) string {
	var b strings.Builder
	b.WriteString("tail -v -n +1 --")
	for _, p := range paths {
		b.WriteString(" " + Quote(p))
	}
	b.WriteString(" 2>/dev/null")
	return b.String()
}

// hpFiles returns the content of each file in hpReadFiles output, given the
// same paths in the same order; a missing or unreadable file is absent.
func hpFiles(out string, paths []string) map[string]string {
	type hit struct {
		path      string
		at, start int // header, content
	}
	var hits []hit
	pos := 0
	for _, p := range paths {
		hdr := "==> " + p + " <==\n"
		if len(hits) == 0 {
			if !strings.HasPrefix(out, hdr) {
				continue
			}
			hits = append(hits, hit{p, 0, len(hdr)})
			pos = len(hdr)
			continue
		}
		// Later headers follow a blank line.
		i := strings.Index(out[pos:], "\n"+hdr)
		if i < 0 {
			continue
		}
		hits = append(hits, hit{p, pos + i, pos + i + 1 + len(hdr)})
		pos = pos + i + 1 + len(hdr)
	}
	files := map[string]string{}
	for i, h := range hits {
		end := len(out)
		if i+1 < len(hits) {
			end = hits[i+1].at
		}
		files[h.path] = out[h.start:end]
	}
	return files
}

// hpScalar formats a parameter value as text (ints without exponent).
func hpScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// hpWriteFile writes path atomically; when that fails (typically a missing
// parent directory) it creates the parent and tries once more, so the common
// case costs one round trip.
func hpWriteFile(ctx context.Context, t *Target, p string, data []byte, mode fs.FileMode) error {
	o := connection.WriteOpts{Mode: mode, Become: t.Become}
	err := t.Conn.WriteFile(ctx, p, data, o)
	if err == nil {
		return nil
	}
	if _, merr := Sh(ctx, t, "mkdir -p "+Quote(path.Dir(p))); merr != nil {
		return err
	}
	return t.Conn.WriteFile(ctx, p, data, o)
}

// hpStrings returns a list or a single string parameter as strings.
func hpStrings(p Params, name string) []string {
	if s, ok := p[name].(string); ok {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	return p.Strings(name)
}
