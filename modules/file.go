package modules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	Register(&Module{
		Name: "file",
		Doc: `Manage a path's existence, type and attributes: a file, a directory, a symlink, or nothing.

state = "file" (the default) only sets attributes of an existing file and fails if
it is missing; "directory" creates the directory and its parents (mkdir -p);
"absent" removes the path recursively; "link" makes path a symlink to src;
"touch" creates an empty file if the path is missing (a change only when it had
to create it) and otherwise only sets attributes.
mode, owner and group apply to the path itself; with recurse = True on a
directory they apply to everything below it as well.

Example:
    file(hosts("web"), path = "/srv/app", state = "directory", mode = "0755", owner = "www-data")
    file(hosts("web"), path = "/etc/nginx/sites-enabled/app", state = "link",
         src = "/etc/nginx/sites-available/app")`,
		Params: append([]Param{
			{Name: "path", Type: String, Required: true, Doc: "Absolute path on the host to manage."},
			{Name: "state", Type: String, Default: "file", Choices: []string{"file", "directory", "absent", "link", "touch"},
				Doc: "What path must be: an existing file, a directory, nothing, a symlink to src, or a file created if missing."},
			{Name: "src", Type: String, Doc: "Target of the symlink for state = \"link\" (stored as given, relative or absolute)."},
			{Name: "recurse", Type: Bool, Default: false, Doc: "For state = \"directory\": apply mode/owner/group to everything below the directory too."},
			{Name: "force", Type: Bool, Default: false, Doc: "For state = \"link\": replace an existing file or directory at path by the link."},
		}, fileAttrParams("path", "")...),
		Outputs: map[string]string{
			"path":  "The managed path.",
			"state": "The state path is in afterwards (or would be, in check mode).",
		},
		Run: runFile,
	})
}

// fileAttrParams documents mode, owner and group of what (a path, the
// file), the same in every module that sets them (fileAttrsFromParams
// reads them); modeNote says what an unset mode means where it matters.
func fileAttrParams(what, modeNote string) []Param {
	mode := `Permissions as an octal string ("0644") or an int (write it 0o644: a plain 644 is decimal).`
	if modeNote != "" {
		mode += " " + modeNote
	}
	return []Param{
		{Name: "mode", Type: Any, Doc: mode},
		{Name: "owner", Type: String, Doc: "User name or numeric uid that must own " + what + "."},
		{Name: "group", Type: String, Doc: "Group name or numeric gid that must own " + what + "."},
	}
}

// fileAttrs is the wanted mode/owner/group; empty fields are not managed.
type fileAttrs struct {
	mode    uint32
	hasMode bool
	owner   string
	group   string
}

func fileAttrsFromParams(p Params) (fileAttrs, error) {
	a := fileAttrs{owner: p.String("owner"), group: p.String("group")}
	if p.Has("mode") {
		m, err := parseMode(p["mode"])
		if err != nil {
			return a, err
		}
		a.mode, a.hasMode = m, true
	}
	return a, nil
}

func (a fileAttrs) any() bool { return a.hasMode || a.owner != "" || a.group != "" }

// parseMode accepts the forms a playbook writes a mode in: an octal string
// ("0644", "644", "0o644") or an int (Starlark's 0o644). A decimal int like
// 644 cannot be told from a deliberate value, so it is taken as is, as
// Ansible does; the doc steers users to strings or 0o literals.
func parseMode(v any) (uint32, error) {
	var m uint64
	switch v := v.(type) {
	case string:
		s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(v), "0o"), "0O")
		if s == "" {
			return 0, fmt.Errorf("mode: empty")
		}
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil {
			return 0, fmt.Errorf("mode %q: want an octal number like \"0644\"", v)
		}
		m = n
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("mode %d: negative", v)
		}
		m = uint64(v)
	case int:
		if v < 0 {
			return 0, fmt.Errorf("mode %d: negative", v)
		}
		m = uint64(v)
	default:
		return 0, fmt.Errorf("mode: want a string like \"0644\" or an int, got %T", v)
	}
	if m > 0o7777 {
		return 0, fmt.Errorf("mode %s: larger than 07777", fmtMode(uint32(m)))
	}
	return uint32(m), nil
}

// fmtMode prints a mode the way chmod and users write it.
func fmtMode(m uint32) string { return fmt.Sprintf("%04o", m) }

// goMode is a mode's permission bits (with setuid, setgid, sticky) as an
// fs.FileMode.
func goMode(u uint32) fs.FileMode { return connection.GoMode(u & 0o7777) }

func isNumeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// attrPlan compares an existing path's attributes with the wanted ones and
// returns the shell commands that fix them plus "mode 0644 -> 0600" style
// diff lines. A numeric owner/group in the playbook is compared with the
// numeric ids, which costs one extra `stat` only in that case.
func attrPlan(ctx context.Context, t *Target, p string, st *connection.FileInfo, a fileAttrs) (cmds, diffs []string, err error) {
	owner, group := st.Owner, st.Group
	if (a.owner != "" && isNumeric(a.owner) && !isNumeric(owner)) || (a.group != "" && isNumeric(a.group) && !isNumeric(group)) {
		out, err := Sh(ctx, t, "stat -c '%u %g' -- "+Quote(p))
		if err != nil {
			return nil, nil, err
		}
		f := strings.Fields(out)
		if len(f) == 2 {
			if isNumeric(a.owner) {
				owner = f[0]
			}
			if isNumeric(a.group) {
				group = f[1]
			}
		}
	}
	link := st.Mode&fs.ModeSymlink != 0
	// chmod on a symlink would change its target; Linux symlinks have no
	// mode of their own, so mode is ignored for links.
	if a.hasMode && !link {
		if cur := connection.UnixMode(st.Mode); cur != a.mode {
			cmds = append(cmds, "chmod "+fmtMode(a.mode)+" -- "+Quote(p))
			diffs = append(diffs, fmt.Sprintf("mode %s -> %s", fmtMode(cur), fmtMode(a.mode)))
		}
	}
	chown := "chown "
	if link {
		chown = "chown -h "
	}
	if a.owner != "" && a.owner != owner {
		cmds = append(cmds, chown+Quote(a.owner)+" -- "+Quote(p))
		diffs = append(diffs, fmt.Sprintf("owner %s -> %s", owner, a.owner))
	}
	if a.group != "" && a.group != group {
		cmds = append(cmds, strings.Replace(chown, "chown", "chgrp", 1)+Quote(a.group)+" -- "+Quote(p))
		diffs = append(diffs, fmt.Sprintf("group %s -> %s", group, a.group))
	}
	return cmds, diffs, nil
}

// newPathDiffs describes the attributes a path about to be created gets.
func newPathDiffs(a fileAttrs) []string {
	var d []string
	if a.hasMode {
		d = append(d, "mode "+fmtMode(a.mode))
	}
	if a.owner != "" {
		d = append(d, "owner "+a.owner)
	}
	if a.group != "" {
		d = append(d, "group "+a.group)
	}
	return d
}

// setAttrCmds returns the commands that give a new path its attributes.
func setAttrCmds(p string, a fileAttrs) []string {
	var c []string
	if a.hasMode {
		c = append(c, "chmod "+fmtMode(a.mode)+" -- "+Quote(p))
	}
	if a.owner != "" {
		c = append(c, "chown "+Quote(a.owner)+" -- "+Quote(p))
	}
	if a.group != "" {
		c = append(c, "chgrp "+Quote(a.group)+" -- "+Quote(p))
	}
	return c
}

// recursePlan finds whether anything below dir (dir included) has other
// attributes than wanted, with one `find` that stops at the first hit.
func recursePlan(ctx context.Context, t *Target, dir string, a fileAttrs) (cmds []string, differs bool, err error) {
	var tests []string
	if a.owner != "" {
		tests = append(tests, "! -user "+Quote(a.owner))
		cmds = append(cmds, "chown -R "+Quote(a.owner)+" -- "+Quote(dir))
	}
	if a.group != "" {
		tests = append(tests, "! -group "+Quote(a.group))
		cmds = append(cmds, "chgrp -R "+Quote(a.group)+" -- "+Quote(dir))
	}
	if a.hasMode {
		// Symlinks always show 0777 and chmod -R does not change them.
		tests = append(tests, "\\( ! -type l ! -perm "+fmtMode(a.mode)+" \\)")
		cmds = append(cmds, "chmod -R "+fmtMode(a.mode)+" -- "+Quote(dir))
	}
	if len(tests) == 0 {
		return nil, false, nil
	}
	out, err := Sh(ctx, t, "find "+Quote(dir)+" \\( "+strings.Join(tests, " -o ")+" \\) -print | head -n 1")
	if err != nil {
		return nil, false, err
	}
	return cmds, strings.TrimSpace(out) != "", nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "link"
	case m.IsRegular():
		return "file"
	default:
		return "special file"
	}
}

func runFile(ctx context.Context, t *Target, p Params) (*Result, error) {
	pth, state := p.String("path"), p.String("state")
	if state == "" {
		state = "file"
	}
	a, err := fileParams(p, pth, state)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	st, err := t.Conn.Stat(ctx, pth, t.Become)
	if errors.Is(err, fs.ErrNotExist) {
		st, err = nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("file: %s: %w", pth, err)
	}
	res := &Result{Outputs: map[string]any{"path": pth, "state": state}}
	plan := NewPlan("file", "")
	if state == "file" && st == nil && t.Check {
		// An earlier step that would create it did not run in check
		// mode; predict attribute changes rather than fail.
		if a.any() {
			plan.Add("set "+strings.Join(newPathDiffs(a), ", "), "", nil)
			plan.Note(pth + " is missing (assuming an earlier step creates it)")
		}
		return plan.Apply(ctx, t, res)
	}
	var fp filePlan
	switch state {
	case "absent":
		if st != nil {
			fp = filePlan{"remove " + fileKind(st.Mode) + " " + pth, []string{"rm -rf -- " + Quote(pth)}, []string{fmt.Sprintf("%s: %s -> absent", pth, fileKind(st.Mode))}}
		}
	case "file", "touch":
		fp, err = fileFilePlan(ctx, t, pth, state, st, a)
	case "directory":
		fp, err = fileDirPlan(ctx, t, pth, st, a, p.Bool("recurse"))
	case "link":
		fp, err = fileLinkPlan(ctx, t, pth, p.String("src"), p.Bool("force"), st, a)
	}
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if len(fp.cmds) > 0 {
		if fp.what == "" {
			fp.what = "set " + strings.Join(fp.diffs, ", ")
		}
		cmds := fp.cmds
		plan.Add(fp.what, strings.Join(fp.diffs, "\n")+"\n", func(ctx context.Context) error {
			_, err := Sh(ctx, t, strings.Join(cmds, " && ")) // one round trip
			return err
		})
	}
	return plan.Apply(ctx, t, res)
}

// fileParams checks the parameters and returns the wanted attributes.
func fileParams(p Params, pth, state string) (fileAttrs, error) {
	if !path.IsAbs(pth) {
		return fileAttrs{}, fmt.Errorf("path %q: must be absolute", pth)
	}
	if state == "link" && p.String("src") == "" {
		return fileAttrs{}, errors.New(`state = "link" needs src (the link target)`)
	}
	if p.Bool("recurse") && state != "directory" {
		return fileAttrs{}, errors.New(`recurse = True needs state = "directory"`)
	}
	return fileAttrsFromParams(p)
}

// filePlan is one change of the file module: the commands (run in one
// round trip) and the diff lines; what "" means "set <diff lines>".
type filePlan struct {
	what        string
	cmds, diffs []string
}

// fileFilePlan is state "file" (the file must exist) or "touch".
func fileFilePlan(ctx context.Context, t *Target, pth, state string, st *connection.FileInfo, a fileAttrs) (filePlan, error) {
	switch {
	case st == nil && state == "touch":
		return filePlan{
			"create file " + pth,
			append([]string{"touch -- " + Quote(pth)}, setAttrCmds(pth, a)...),
			append([]string{pth + ": absent -> file"}, newPathDiffs(a)...),
		}, nil
	case st == nil:
		return filePlan{}, fmt.Errorf("file %s is absent, cannot continue (use state = \"touch\" to create it)", pth)
	case state == "file" && st.Mode.IsDir():
		return filePlan{}, fmt.Errorf("%s is a directory, not a file", pth)
	}
	cmds, diffs, err := attrPlan(ctx, t, pth, st, a)
	return filePlan{"", cmds, diffs}, err
}

// fileDirPlan is state "directory".
func fileDirPlan(ctx context.Context, t *Target, pth string, st *connection.FileInfo, a fileAttrs, recurse bool) (filePlan, error) {
	switch {
	case st == nil:
		// A new directory holds nothing to recurse into, so recurse
		// needs nothing more than the directory's own attributes.
		return filePlan{
			"create directory " + pth,
			append([]string{"mkdir -p -- " + Quote(pth)}, setAttrCmds(pth, a)...),
			append([]string{pth + ": absent -> directory"}, newPathDiffs(a)...),
		}, nil
	case !st.Mode.IsDir():
		return filePlan{}, fmt.Errorf("%s exists and is a %s, not a directory", pth, fileKind(st.Mode))
	case recurse:
		rc, differs, err := recursePlan(ctx, t, pth, a)
		if err != nil || !differs {
			return filePlan{}, err
		}
		return filePlan{"", rc, []string{pth + ": attributes below the directory differ (" + strings.Join(newPathDiffs(a), ", ") + ", recursively)"}}, nil
	}
	cmds, diffs, err := attrPlan(ctx, t, pth, st, a)
	return filePlan{"", cmds, diffs}, err
}

// fileLinkPlan is state "link": create, retarget or (with force) replace,
// then ownership, the only attribute a link has.
func fileLinkPlan(ctx context.Context, t *Target, pth, src string, force bool, st *connection.FileInfo, a fileAttrs) (filePlan, error) {
	var fp filePlan
	isLink := st != nil && st.Mode&fs.ModeSymlink != 0
	switch {
	case st == nil:
		fp = filePlan{"create link " + pth, []string{"ln -s -- " + Quote(src) + " " + Quote(pth)}, []string{pth + ": absent -> link to " + src}}
	case isLink && st.LinkTarget != src:
		// -n: replace the link itself even if it points to a directory.
		fp = filePlan{"retarget link " + pth, []string{"ln -sfn -- " + Quote(src) + " " + Quote(pth)}, []string{fmt.Sprintf("%s: link to %s -> link to %s", pth, st.LinkTarget, src)}}
	case isLink:
	case !force:
		return fp, fmt.Errorf("%s exists and is a %s; set force = True to replace it by a link", pth, fileKind(st.Mode))
	default:
		fp = filePlan{"replace " + pth + " by a link", []string{"rm -rf -- " + Quote(pth), "ln -s -- " + Quote(src) + " " + Quote(pth)}, []string{fmt.Sprintf("%s: %s -> link to %s", pth, fileKind(st.Mode), src)}}
	}
	if a.owner == "" && a.group == "" {
		return fp, nil
	}
	la := fileAttrs{owner: a.owner, group: a.group}
	if isLink {
		c, d, err := attrPlan(ctx, t, pth, st, la)
		fp.cmds, fp.diffs = append(fp.cmds, c...), append(fp.diffs, d...)
		return fp, err
	}
	// A new link gets its ownership after creation.
	for _, c := range setAttrCmds(pth, la) {
		fp.cmds = append(fp.cmds, strings.Replace(strings.Replace(c, "chown ", "chown -h ", 1), "chgrp ", "chgrp -h ", 1))
	}
	fp.diffs = append(fp.diffs, newPathDiffs(la)...)
	return fp, nil
}
