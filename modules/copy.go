package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	Register(&Module{
		Name: "copy",
		Doc: `Put a file on the host from inline content or a file beside the playbook.

The file is replaced atomically (temporary file + rename) only when its content
(compared by sha256) differs; mode, owner and group are fixed separately when
only they differ. The parent directory must exist (as with Ansible): create it
with file(state = "directory") first. With a src file and a dest that is an
existing directory (or ends in "/"), the file goes into it under src's name.
sensitive = True keeps the content out of diffs.

Example:
    copy(hosts("web"), dest = "/etc/motd", content = "hi\n", mode = "0644")
    copy(hosts("all"), src = "files/limits.conf", dest = "/etc/security/limits.conf")`,
		Params: append([]Param{
			{Name: "dest", Type: String, Required: true, Doc: "Absolute path of the file on the host."},
			{Name: "content", Type: String, Doc: "The file's content. Exactly one of content and src."},
			{Name: "src", Type: String, Doc: "A file on the controller, relative to the playbook's directory. Exactly one of content and src."},
			{Name: "sensitive", Type: Bool, Default: false, Doc: "Hide the content from diffs (the diff then only says that it changed)."},
		}, fileAttrParams("the file", "Unset: an existing file keeps its mode, a new one gets 0644.")...),
		Outputs: map[string]string{
			"dest":     "The path written.",
			"checksum": "sha256 of the wanted content, hex.",
			"size":     "Size of the wanted content in bytes.",
		},
		Run: runCopy,
	})
}

// copyReadLimit is the largest remote file read whole for comparison and
// diffs; bigger files are compared with a remote sha256sum instead.
const copyReadLimit = 1 << 20

func runCopy(ctx context.Context, t *Target, p Params) (*Result, error) {
	dest := p.String("dest")
	if !path.IsAbs(dest) {
		return nil, fmt.Errorf("copy: dest %q: must be absolute", dest)
	}
	data, err := copyData(t, p)
	if err != nil {
		return nil, err
	}
	a, err := fileAttrsFromParams(p)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	sum := sha256.Sum256(data)
	res := &Result{Outputs: map[string]any{"checksum": hex.EncodeToString(sum[:]), "size": int64(len(data))}}
	dest, st, err := copyDest(ctx, t, dest, p.String("src"))
	if err != nil {
		return nil, err
	}
	res.Outputs["dest"] = dest
	plan := NewPlan("copy", "")
	if err := copyPlan(ctx, t, plan, p, dest, st, data, a); err != nil {
		return nil, err
	}
	return plan.Apply(ctx, t, res)
}

// copyData is the content to copy: the content parameter, or the src file
// on the controller (relative to the playbook's directory).
func copyData(t *Target, p Params) ([]byte, error) {
	hasContent, src := p.Has("content"), p.String("src")
	if hasContent == (src != "") {
		return nil, errors.New("copy: give exactly one of content and src")
	}
	if hasContent {
		return []byte(p.String("content")), nil
	}
	b, err := readSrc(t, src)
	if err != nil {
		return nil, fmt.Errorf("copy: src: %w", err)
	}
	return b, nil
}

// copyDest stats dest; a src copied into a directory (or a dest ending in
// "/") lands as the src's base name inside it. st is nil when the file is
// not there.
func copyDest(ctx context.Context, t *Target, dest, src string) (string, *connection.FileInfo, error) {
	st, err := t.Conn.Stat(ctx, dest, t.Become)
	if err == nil && src != "" && st.Mode.IsDir() || err != nil && src != "" && strings.HasSuffix(dest, "/") {
		dest = path.Join(dest, filepath.Base(src))
		st, err = t.Conn.Stat(ctx, dest, t.Become)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return dest, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("copy: %s: %w", dest, err)
	}
	if !st.Mode.IsRegular() {
		return "", nil, fmt.Errorf("copy: %s exists and is a %s, not a file", dest, fileKind(st.Mode))
	}
	return dest, st, nil
}

// copyPlan plans "create DEST" or "update DEST" (the write sets the
// attributes too) and, for an existing file, the attribute changes.
func copyPlan(ctx context.Context, t *Target, plan *Plan, p Params, dest string, st *connection.FileInfo, data []byte, a fileAttrs) error {
	write := func(ctx context.Context) error { return writeWithAttrs(ctx, t, dest, data, a) }
	if st == nil {
		if err := copyParent(ctx, t, plan, dest); err != nil {
			return err
		}
		diff := copyDiff(p, dest, nil, data, false)
		for _, l := range newPathDiffs(a) {
			diff += l + "\n"
		}
		plan.Add("create "+dest, diff, write)
		return nil
	}
	differs, old, err := copyCompare(ctx, t, dest, st, data, t.Diff && !p.Bool("sensitive"))
	if err != nil {
		return fmt.Errorf("copy: reading %s: %w", dest, err)
	}
	if differs {
		plan.Add("update "+dest, copyDiff(p, dest, old, data, true), write)
	}
	attrCmds, diffs, err := attrPlan(ctx, t, dest, st, a)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if len(attrCmds) > 0 {
		do := func(ctx context.Context) error { _, err := Sh(ctx, t, strings.Join(attrCmds, " && ")); return err }
		if differs {
			do = nil // the write sets them
		}
		plan.Add("set "+strings.Join(diffs, ", "), strings.Join(diffs, "\n")+"\n", do)
	}
	return nil
}

// copyParent fails when dest's directory is missing, except in check mode,
// where an earlier step that would create it did not run: it predicts the
// write rather than fail.
func copyParent(ctx context.Context, t *Target, plan *Plan, dest string) error {
	dir := path.Dir(dest)
	_, err := t.Conn.Stat(ctx, dir, t.Become)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("copy: %s: %w", dir, err)
	case !t.Check:
		return fmt.Errorf("copy: parent directory %s does not exist (create it with file(state = \"directory\") first)", dir)
	}
	plan.Note("parent directory " + dir + " is missing (assuming an earlier step creates it)")
	return nil
}

// copyDiff is the content part of the diff: a unified diff, or a line
// saying why none is shown.
func copyDiff(p Params, dest string, old, data []byte, exists bool) string {
	switch {
	case p.Bool("sensitive"):
		return dest + ": content changed (sensitive, not shown)\n"
	case old == nil && exists, bytes.IndexByte(data, 0) >= 0 || bytes.IndexByte(old, 0) >= 0:
		return dest + ": content changed (binary or large file, not shown)\n"
	}
	return FileDiff(dest, string(old), string(data))
}

// copyCompare tells whether the remote file differs from data. Small files
// are read whole (one round trip, and the old content serves the diff);
// a file of another size differs without reading unless a diff is wanted;
// large files of equal size are compared by a remote sha256sum.
func copyCompare(ctx context.Context, t *Target, dest string, st *connection.FileInfo, data []byte, wantOld bool) (bool, []byte, error) {
	if st.Size != int64(len(data)) {
		if wantOld && st.Size <= copyReadLimit {
			old, err := t.Conn.ReadFile(ctx, dest, t.Become)
			if err != nil {
				return false, nil, err
			}
			return true, old, nil
		}
		return true, nil, nil
	}
	if st.Size <= copyReadLimit {
		old, err := t.Conn.ReadFile(ctx, dest, t.Become)
		if err != nil {
			return false, nil, err
		}
		return !bytes.Equal(old, data), old, nil
	}
	out, err := Sh(ctx, t, "sha256sum < "+Quote(dest))
	if err != nil {
		return false, nil, err
	}
	sum := sha256.Sum256(data)
	f := strings.Fields(out)
	return len(f) == 0 || f[0] != hex.EncodeToString(sum[:]), nil, nil
}
