package modules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
		Params: []Param{
			{Name: "dest", Type: String, Required: true, Doc: "Absolute path of the file on the host."},
			{Name: "content", Type: String, Doc: "The file's content. Exactly one of content and src."},
			{Name: "src", Type: String, Doc: "A file on the controller, relative to the playbook's directory. Exactly one of content and src."},
			{Name: "mode", Type: Any, Doc: "Permissions as an octal string (\"0644\") or an int (0o644). Unset: an existing file keeps its mode, a new one gets 0644."},
			{Name: "owner", Type: String, Doc: "User name or numeric uid that must own the file."},
			{Name: "group", Type: String, Doc: "Group name or numeric gid that must own the file."},
			{Name: "sensitive", Type: Bool, Default: false, Doc: "Hide the content from diffs (the diff then only says that it changed)."},
		},
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
		return nil, fmt.Errorf("dest %q: must be absolute", dest)
	}
	hasContent, src := p.Has("content"), p.String("src")
	if hasContent == (src != "") {
		return nil, errors.New("give exactly one of content and src")
	}
	var data []byte
	if hasContent {
		data = []byte(p.String("content"))
	} else {
		local := src
		if !filepath.IsAbs(local) {
			local = filepath.Join(t.Dir, local)
		}
		b, err := os.ReadFile(local)
		if err != nil {
			return nil, fmt.Errorf("src: %w", err)
		}
		data = b
	}
	a, err := fileAttrsFromParams(p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	res := &Result{Outputs: map[string]any{"checksum": hex.EncodeToString(sum[:]), "size": int64(len(data))}}

	st, err := t.Conn.Stat(ctx, dest, t.Become)
	if err == nil && src != "" && st.Mode.IsDir() || err != nil && src != "" && strings.HasSuffix(dest, "/") {
		dest = path.Join(dest, filepath.Base(src))
		st, err = t.Conn.Stat(ctx, dest, t.Become)
	}
	res.Outputs["dest"] = dest
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if exists && !st.Mode.IsRegular() {
		return nil, fmt.Errorf("%s exists and is a %s, not a file", dest, fileKind(st.Mode))
	}

	var old []byte // remote content when known, for the diff
	contentDiffers := true
	if exists {
		contentDiffers, old, err = copyCompare(ctx, t, dest, st, data, t.Diff && !p.Bool("sensitive"))
		if err != nil {
			return nil, err
		}
	} else {
		if _, perr := t.Conn.Stat(ctx, path.Dir(dest), t.Become); perr != nil {
			if !errors.Is(perr, fs.ErrNotExist) {
				return nil, perr
			}
			if !t.Check {
				return nil, fmt.Errorf("parent directory %s does not exist (create it with file(state = \"directory\") first)", path.Dir(dest))
			}
			// In check mode an earlier step that would create the
			// directory did not run; predict the write rather than fail.
			res.Msg = "parent directory " + path.Dir(dest) + " is missing (assuming an earlier step creates it); "
		}
	}

	var diffs []string
	var attrCmds []string
	if exists {
		attrCmds, diffs, err = attrPlan(ctx, t, dest, st, a)
		if err != nil {
			return nil, err
		}
	} else {
		diffs = newPathDiffs(a)
	}
	if !contentDiffers && len(attrCmds) == 0 {
		return res, nil
	}
	res.Changed = true
	switch {
	case !exists:
		res.Msg += "file created"
	case contentDiffers:
		res.Msg += "content changed"
	default:
		res.Msg += strings.Join(diffs, ", ")
	}
	if t.Diff {
		var d strings.Builder
		if contentDiffers {
			switch {
			case p.Bool("sensitive"):
				fmt.Fprintf(&d, "%s: content changed (sensitive, not shown)\n", dest)
			case old == nil && exists, bytes.IndexByte(data, 0) >= 0 || bytes.IndexByte(old, 0) >= 0:
				fmt.Fprintf(&d, "%s: content changed (binary or large file, not shown)\n", dest)
			default:
				d.WriteString(FileDiff(dest, string(old), string(data)))
			}
		}
		for _, l := range diffs {
			d.WriteString(l + "\n")
		}
		res.Diff = d.String()
	}
	if t.Check {
		return res, nil
	}
	if contentDiffers {
		// WriteFile sets mode and owner on the temporary file before the
		// rename, so the new file never shows with the wrong attributes.
		o := connection.WriteOpts{Owner: a.owner, Group: a.group, Become: t.Become}
		if a.hasMode {
			o.Mode = goMode(a.mode)
		}
		if err := t.Conn.WriteFile(ctx, dest, data, o); err != nil {
			return nil, err
		}
		// WriteFile takes permission bits; setuid/setgid/sticky need chmod.
		if a.hasMode && a.mode&0o7000 != 0 {
			if _, err := Sh(ctx, t, "chmod "+fmtMode(a.mode)+" -- "+Quote(dest)); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	if _, err := Sh(ctx, t, strings.Join(attrCmds, " && ")); err != nil {
		return nil, err
	}
	return res, nil
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
