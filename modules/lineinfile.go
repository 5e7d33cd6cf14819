package modules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

func init() {
	Register(&Module{
		Name: "lineinfile",
		Doc: `Ensure one line is present in (or absent from) a text file, like Ansible's lineinfile.

state = "present": if regexp matches lines, the last match (the first with
firstmatch = True) is replaced by line; otherwise, if line is already in the file
exactly, nothing changes; otherwise line is inserted after the last line matching
insertafter (or before the one matching insertbefore), or at "BOF"/"EOF"
(the default: appended). state = "absent" removes every line matching regexp
(or equal to line). The file is rewritten atomically, keeping its mode and owner.
regexp uses Go (RE2) syntax: no backreferences or lookaround in the pattern;
with backrefs = True, line may refer to groups as \1 or \g<name>.
For idempotence the regexp should match the line both before and after the edit.

Example:
    lineinfile(hosts("all"), path = "/etc/ssh/sshd_config",
               regexp = "^#?PermitRootLogin ", line = "PermitRootLogin prohibit-password")`,
		Params: append([]Param{
			{Name: "path", Type: String, Required: true, Doc: "Absolute path of the file on the host."},
			{Name: "line", Type: String, Doc: "The line (without newline) to ensure; required for state = \"present\"."},
			{Name: "regexp", Type: String, Doc: "Lines to replace (present) or remove (absent); searched anywhere in the line."},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "Whether the line must be there or not."},
			{Name: "insertafter", Type: String, Doc: "Where to add the line when regexp does not match: \"EOF\", \"BOF\", or a regexp (after its last match)."},
			{Name: "insertbefore", Type: String, Doc: "Where to add the line when regexp does not match: \"BOF\" or a regexp (before its last match)."},
			{Name: "firstmatch", Type: Bool, Default: false, Doc: "Use the first match of regexp/insertafter/insertbefore instead of the last."},
			{Name: "backrefs", Type: Bool, Default: false, Doc: "Expand \\1 and \\g<name> in line from the regexp match; if regexp does not match, the file is left alone."},
			{Name: "create", Type: Bool, Default: false, Doc: "Create the file if it is missing (state = \"present\"); otherwise a missing file is an error."},
		}, fileAttrParams("the file", "")...),
		Outputs: map[string]string{"path": "The edited file."},
		Run:     runLineinfile,
	})
}

// lineEdit is one lineinfile request, independent of any host.
type lineEdit struct {
	line         string
	regexp       *regexp.Regexp // nil: match by exact line
	absent       bool
	insertAfter  string // "", "EOF", "BOF" or a regexp
	insertBefore string // "", "BOF" or a regexp
	firstMatch   bool
	backrefs     bool
}

// Patterns are matched against lines without their line ending: Python's $
// matches before a final newline and Go's does not, so this keeps "^x=1$"
// meaning what an Ansible user expects.

// splitKeepNL splits content into lines that keep their "\n", like Python's
// readlines, which Ansible's comparisons rely on.
func splitKeepNL(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func trimEOL(s string) string { return strings.TrimRight(s, "\r\n") }

// pyToGoTemplate turns Python replacement syntax (\1, \g<1>, \g<name>) into
// Go's regexp.Expand syntax (${1}, ${name}); a literal $ is doubled.
var pyBackref = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

func pyToGoTemplate(s string) string {
	s = strings.ReplaceAll(s, "$", "$$")
	return pyBackref.ReplaceAllStringFunc(s, func(m string) string {
		sm := pyBackref.FindStringSubmatch(m)
		if sm[1] != "" {
			return "${" + sm[1] + "}"
		}
		return "${" + sm[2] + "}"
	})
}

// apply edits content and reports the new content, whether it changed and a
// message, following Ansible's lineinfile (present/absent) step by step.
func (e lineEdit) apply(content string) (string, bool, string, error) {
	lines := splitKeepNL(content)
	if e.absent {
		return e.remove(content, lines)
	}
	matchIdx, insIdx, match, err := e.find(lines)
	if err != nil {
		return "", false, "", err
	}
	newLine := e.line
	if matchIdx >= 0 {
		if e.backrefs && match != nil {
			newLine = string(e.regexp.ExpandString(nil, pyToGoTemplate(e.line), trimEOL(lines[matchIdx]), match))
		}
		if !strings.HasSuffix(newLine, "\n") {
			newLine += "\n"
		}
		if lines[matchIdx] == newLine {
			return content, false, "", nil
		}
		lines[matchIdx] = newLine
		return strings.Join(lines, ""), true, "line replaced", nil
	}
	if e.backrefs {
		// Without a match there is nothing to fill the backreferences.
		return content, false, "", nil
	}
	lines, changed := e.insert(lines, insIdx, newLine)
	if !changed {
		return content, false, "", nil
	}
	return strings.Join(lines, ""), true, "line added", nil
}

// remove is state absent: every line that matches goes.
func (e lineEdit) remove(content string, lines []string) (string, bool, string, error) {
	var kept []string
	removed := 0
	for _, l := range lines {
		if e.regexp != nil && e.regexp.MatchString(trimEOL(l)) || e.regexp == nil && trimEOL(l) == e.line {
			removed++
			continue
		}
		kept = append(kept, l)
	}
	if removed == 0 {
		return content, false, "", nil
	}
	return strings.Join(kept, ""), true, fmt.Sprintf("%d line(s) removed", removed), nil
}

// find returns Ansible's index[0] (the line to replace, -1 for none) and
// index[1] (the insertion point, -1 for none), and the regexp's submatches
// when it matched.
func (e lineEdit) find(lines []string) (matchIdx, insIdx int, match []int, err error) {
	var ins *regexp.Regexp
	for _, s := range []string{e.insertAfter, e.insertBefore} {
		if s != "" && s != "EOF" && s != "BOF" {
			r, err := regexp.Compile(s)
			if err != nil {
				return -1, -1, nil, fmt.Errorf("insertafter/insertbefore: %w", err)
			}
			ins = r
		}
	}
	matchIdx, insIdx = -1, -1
	// 1. A regexp match wins over everything else.
	if e.regexp != nil {
		for i, l := range lines {
			if m := e.regexp.FindStringSubmatchIndex(trimEOL(l)); m != nil {
				matchIdx, match = i, m
				if e.firstMatch {
					break
				}
			}
		}
	}
	if match != nil {
		return matchIdx, insIdx, match, nil
	}
	// 2. Without one, look for the exact line and the insertion point.
	for i, l := range lines {
		if trimEOL(l) == e.line {
			matchIdx = i
		} else if ins != nil && ins.MatchString(trimEOL(l)) {
			if e.insertAfter != "" {
				insIdx = i + 1
			}
			if e.insertBefore != "" {
				insIdx = i
			}
			if e.firstMatch {
				break
			}
		}
	}
	return matchIdx, insIdx, nil, nil
}

// insert adds newLine at BOF, EOF or the insertion point; false when it
// already follows the anchor.
func (e lineEdit) insert(lines []string, insIdx int, newLine string) ([]string, bool) {
	switch {
	case e.insertBefore == "BOF" || e.insertAfter == "BOF":
		return append([]string{newLine + "\n"}, lines...), true
	case e.insertAfter == "EOF" || insIdx == -1:
		if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
			lines[n-1] += "\n"
		}
		return append(lines, newLine+"\n"), true
	case e.insertAfter != "" && insIdx == len(lines):
		// Don't insert the line if it already follows the anchor.
		if trimEOL(lines[insIdx-1]) == newLine {
			return lines, false
		}
		if !strings.HasSuffix(lines[insIdx-1], "\n") {
			lines[insIdx-1] += "\n"
		}
		return append(lines, newLine+"\n"), true
	case e.insertAfter != "" && trimEOL(lines[insIdx]) == newLine:
		return lines, false
	}
	return append(lines[:insIdx], append([]string{newLine + "\n"}, lines[insIdx:]...)...), true
}

func runLineinfile(ctx context.Context, t *Target, p Params) (*Result, error) {
	pth := p.String("path")
	e, err := lineinfileParams(p)
	if err != nil {
		return nil, fmt.Errorf("lineinfile: %w", err)
	}
	a, err := fileAttrsFromParams(p)
	if err != nil {
		return nil, fmt.Errorf("lineinfile: %w", err)
	}
	old, err := t.Conn.ReadFile(ctx, pth, t.Become)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lineinfile: reading %s: %w", pth, err)
	}
	plan := NewPlan("lineinfile", "")
	res := &Result{Outputs: map[string]any{"path": pth}}
	switch {
	case !exists && e.absent:
		plan.Unchanged = "file not present"
	case !exists && !p.Bool("create") && !t.Check:
		return nil, fmt.Errorf("lineinfile: %s does not exist (set create = True to create it)", pth)
	case !exists && !p.Bool("create"):
		// In check mode the step that would create the file (a copy,
		// a package) did not run: predict the edit rather than fail.
		plan.Add("add the line to "+pth, FileDiff(pth, "", e.line+"\n"), nil)
		plan.Note(pth + " is missing (assuming an earlier step creates it)")
	default:
		if err := lineinfilePlan(ctx, t, plan, e, a, pth, string(old), exists); err != nil {
			return nil, err
		}
	}
	return plan.Apply(ctx, t, res)
}

// lineinfileParams checks the parameters and returns the edit they ask for.
func lineinfileParams(p Params) (lineEdit, error) {
	e := lineEdit{
		line:         p.String("line"),
		absent:       p.String("state") == "absent",
		insertAfter:  p.String("insertafter"),
		insertBefore: p.String("insertbefore"),
		firstMatch:   p.Bool("firstmatch"),
		backrefs:     p.Bool("backrefs"),
	}
	switch pth := p.String("path"); {
	case !path.IsAbs(pth):
		return e, fmt.Errorf("path %q: must be absolute", pth)
	case e.insertAfter != "" && e.insertBefore != "":
		return e, errors.New("give insertafter or insertbefore, not both")
	case !e.absent && !p.Has("line"):
		return e, errors.New(`state = "present" needs line`)
	case e.absent && !p.Has("line") && !p.Has("regexp"):
		return e, errors.New(`state = "absent" needs regexp or line`)
	case e.backrefs && !p.Has("regexp"):
		return e, errors.New("backrefs = True needs regexp")
	case strings.Contains(e.line, "\n"):
		return e, errors.New("line: must be one line (no newline)")
	}
	if p.Has("regexp") {
		r, err := regexp.Compile(p.String("regexp"))
		if err != nil {
			return e, fmt.Errorf("regexp: %w (Go RE2 syntax)", err)
		}
		e.regexp = r
	}
	return e, nil
}

// lineinfilePlan plans the content edit ("update PATH: line added", or
// "create PATH") and, for an existing file, the attribute changes.
func lineinfilePlan(ctx context.Context, t *Target, plan *Plan, e lineEdit, a fileAttrs, pth, old string, exists bool) error {
	updated, changed, msg, err := e.apply(old)
	if err != nil {
		return fmt.Errorf("lineinfile: %w", err)
	}
	if !exists {
		// A new file: the write gives it its attributes. backrefs
		// without a match creates it empty, as Ansible does.
		what := "create " + pth
		if changed {
			what += ": " + msg
		}
		diff := FileDiff(pth, old, updated)
		for _, l := range newPathDiffs(a) {
			diff += l + "\n"
		}
		plan.Add(what, diff, func(ctx context.Context) error { return writeWithAttrs(ctx, t, pth, []byte(updated), a) })
		return nil
	}
	if changed {
		plan.Add("update "+pth+": "+msg, FileDiff(pth, old, updated), func(ctx context.Context) error {
			return writeWithAttrs(ctx, t, pth, []byte(updated), a)
		})
	}
	if !a.any() {
		return nil
	}
	st, err := t.Conn.Stat(ctx, pth, t.Become)
	if err != nil {
		return fmt.Errorf("lineinfile: %s: %w", pth, err)
	}
	attrCmds, attrDiffs, err := attrPlan(ctx, t, pth, st, a)
	if err != nil {
		return fmt.Errorf("lineinfile: %w", err)
	}
	if len(attrCmds) > 0 && !changed {
		// The write sets the attributes too; only without one do they
		// need their own commands.
		plan.Add("set "+strings.Join(attrDiffs, ", "), strings.Join(attrDiffs, "\n")+"\n", func(ctx context.Context) error {
			_, err := Sh(ctx, t, strings.Join(attrCmds, " && "))
			return err
		})
	} else if len(attrCmds) > 0 {
		plan.Add("set "+strings.Join(attrDiffs, ", "), strings.Join(attrDiffs, "\n")+"\n", nil)
	}
	return nil
}
