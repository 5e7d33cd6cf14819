package modules

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// Sh runs cmd on the target (with sudo when the step asks for it) and returns
// its standard output; a non-zero exit becomes an error carrying stderr.
func Sh(ctx context.Context, t *Target, cmd string) (string, error) {
	r, err := t.Conn.Run(ctx, cmd, connection.RunOpts{Become: t.Become})
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return string(r.Stdout), &ExitError{Cmd: cmd, Code: r.ExitCode, Stderr: strings.TrimSpace(string(r.Stderr)), Stdout: strings.TrimSpace(string(r.Stdout))}
	}
	return string(r.Stdout), nil
}

// ExitError is a remote command that exited non-zero.
type ExitError struct {
	Cmd    string
	Code   int
	Stderr string
	Stdout string
}

func (e *ExitError) Error() string {
	msg := e.Stderr
	if msg == "" {
		msg = e.Stdout
	}
	if len(msg) > 2000 {
		msg = msg[len(msg)-2000:]
	}
	return fmt.Sprintf("command exited %d: %s", e.Code, msg)
}

// Quote returns s quoted for a POSIX shell (connection.ShellQuote: one
// quoting function for every shell text the project writes).
func Quote(s string) string { return connection.ShellQuote(s) }

// FileDiff returns a unified diff of a file's old and new content, labelled
// with its path; "" when they are equal.
func FileDiff(path, before, after string) string {
	if before == after {
		return ""
	}
	lines := func(s string) []string {
		if s == "" {
			return nil // a new or emptied file: no phantom empty line
		}
		return difflib.SplitLines(s)
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(before), B: lines(after),
		FromFile: path + " (before)", ToFile: path + " (after)", Context: 3,
	})
	return d
}

// Helpers shared by the host-preparation modules (apt, apt_repository,
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

// fileLines splits a file's content into its lines, each with its "\n"
// (the last one may lack it), so an edit can keep the lines it does not
// change byte for byte.
func fileLines(content string) []string {
	lines := strings.SplitAfter(content, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// dictItem checks an item of a list-of-dicts parameter: a dict whose keys
// are among keys (any key when none are given). what names the item in
// errors ("rules[2]").
func dictItem(x any, what string, keys ...string) (map[string]any, error) {
	d, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a dict", what)
	}
	for k := range d {
		if len(keys) > 0 && !slices.Contains(keys, k) {
			return nil, fmt.Errorf("%s: unknown key %q (want %s)", what, k, strings.Join(keys, ", "))
		}
	}
	return d, nil
}
