package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

func init() {
	Register(&Module{
		Name: "fetch",
		Doc: `Copy a file from the host to the controller.

By default the copy lands at DEST/HOST/SRC (the host's inventory name, then the
remote path), so fetching the same path from many hosts keeps them apart, as in
Ansible. With flat = True it lands at dest itself, or at dest/BASENAME when dest
ends in "/". A relative dest is taken from the playbook's directory. It is a
change when the local copy was missing or differed (compared by sha256).

Example:
    fetch(hosts("managers"), src = "/etc/docker/daemon.json", dest = "backup")
    fetch(hosts("db")[0], src = "/root/dump.sql", dest = "out/dump.sql", flat = True)`,
		Params: []Param{
			{Name: "src", Type: String, Required: true, Doc: "Absolute path of the file on the host."},
			{Name: "dest", Type: String, Required: true, Doc: "Directory (or, with flat, file) on the controller."},
			{Name: "flat", Type: Bool, Default: false, Doc: "Store at dest (or dest/BASENAME if dest ends in \"/\") instead of dest/HOST/SRC."},
			{Name: "fail_on_missing", Type: Bool, Default: true, Doc: "Fail when src does not exist on the host; False reports ok with a message instead."},
		},
		Outputs: map[string]string{
			"dest":     "Local path of the copy.",
			"checksum": "sha256 of the remote file, hex.",
		},
		Run: runFetch,
	})
}

// fetchDest computes the local path of a fetched file (pure, for tests).
func fetchDest(dir, dest, host, src string, flat bool) string {
	intoDir := strings.HasSuffix(dest, "/")
	if !filepath.IsAbs(dest) {
		dest = filepath.Join(dir, dest)
	}
	if flat {
		if intoDir {
			return filepath.Join(dest, path.Base(src))
		}
		return filepath.Clean(dest)
	}
	// Clean first so "../" in src cannot climb out of dest/HOST.
	return filepath.Join(dest, host, filepath.FromSlash(strings.TrimPrefix(path.Clean("/"+src), "/")))
}

func runFetch(ctx context.Context, t *Target, p Params) (*Result, error) {
	src := p.String("src")
	if !path.IsAbs(src) {
		return nil, fmt.Errorf("fetch: src %q: must be absolute", src)
	}
	local := fetchDest(t.Dir, p.String("dest"), t.Name, src, p.Bool("flat"))
	res := &Result{Outputs: map[string]any{"dest": local}}
	plan := NewPlan("fetch", "")
	out, err := Sh(ctx, t, "if [ -f "+Quote(src)+" ]; then sha256sum < "+Quote(src)+"; elif [ -e "+Quote(src)+" ]; then echo notfile; else echo missing; fi")
	if err != nil {
		return nil, plan.Errorf("reading %s: %w", src, err)
	}
	f := strings.Fields(out)
	switch {
	case len(f) == 0:
		return nil, plan.Errorf("sha256sum of %s printed nothing", src)
	case f[0] == "notfile":
		return nil, plan.Errorf("%s is not a regular file", src)
	case f[0] == "missing":
		if p.Has("fail_on_missing") && !p.Bool("fail_on_missing") {
			plan.Unchanged = "the remote file does not exist, not transferring"
			return plan.Apply(ctx, t, res)
		}
		return nil, plan.Errorf("%s does not exist on the host", src)
	}
	remoteSum := f[0]
	res.Outputs["checksum"] = remoteSum
	localSum, err := fileSHA256(local)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, plan.Errorf("%s: %w", local, err)
	}
	if localSum != remoteSum {
		what := "fetch " + src + " to " + local
		if localSum != "" {
			what = "update " + local + " from " + src
		}
		plan.Add(what, fmt.Sprintf("%s: sha256 %s -> %s\n", local, orNone(localSum), remoteSum), func(ctx context.Context) error {
			if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
				return err
			}
			return t.Conn.Fetch(ctx, src, local, t.Become)
		})
	}
	return plan.Apply(ctx, t, res)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// fileSHA256 hashes a local file; "" and an fs.ErrNotExist error when missing.
func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
