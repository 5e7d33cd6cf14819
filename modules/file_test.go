package modules

import (
	"github.com/swarmrun/swarmrun/runtime/connection"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	good := []struct {
		in   any
		want uint32
	}{
		{"0644", 0o644}, {"644", 0o644}, {"0o755", 0o755}, {"4755", 0o4755}, {" 0600 ", 0o600},
		{int64(0o640), 0o640}, {int64(0), 0},
	}
	for _, c := range good {
		got, err := parseMode(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseMode(%#v) = %o, %v; want %o", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{"", "0988", "rw-r--r--", "17777", int64(-1), int64(0o10000), 1.5, true} {
		if _, err := parseMode(bad); err == nil {
			t.Errorf("parseMode(%#v): want an error", bad)
		}
	}
}

func TestModeRoundTrip(t *testing.T) {
	for _, u := range []uint32{0, 0o644, 0o755, 0o4755, 0o2750, 0o1777, 0o7777} {
		if got := connection.UnixMode(goMode(u)); got != u {
			t.Errorf("connection.UnixMode(goMode(%o)) = %o", u, got)
		}
	}
	if got := connection.UnixMode(fs.ModeDir | fs.ModeSticky | 0o777); got != 0o1777 {
		t.Errorf("connection.UnixMode(dir|sticky|777) = %o", got)
	}
	if fmtMode(0o644) != "0644" || fmtMode(0o4755) != "4755" {
		t.Error("fmtMode")
	}
}

func TestFileLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	d := filepath.Join(dir, "a", "b")

	r := genConverge(t, tg, dir, "file", map[string]any{"path": d, "state": "directory", "mode": "0750"})
	if m := genMode(t, d); !m.IsDir() || m.Perm() != 0o750 {
		t.Fatalf("mode %v", m)
	}
	if !strings.Contains(r.Diff, "absent -> directory") {
		t.Errorf("diff %q", r.Diff)
	}
	r = genConverge(t, tg, dir, "file", map[string]any{"path": d, "state": "directory", "mode": "0755"})
	if r.Diff != "mode 0750 -> 0755\n" {
		t.Errorf("diff %q", r.Diff)
	}
	f := filepath.Join(d, "f")
	genConverge(t, tg, dir, "file", map[string]any{"path": f, "state": "touch", "mode": "0600"})
	if genMode(t, f).Perm() != 0o600 {
		t.Errorf("touch mode %v", genMode(t, f))
	}
	genConverge(t, tg, dir, "file", map[string]any{"path": f, "mode": "0644"})
	genConverge(t, tg, dir, "file", map[string]any{"path": d, "state": "directory", "mode": "0700", "recurse": true})
	if genMode(t, f).Perm() != 0o700 || genMode(t, d).Perm() != 0o700 {
		t.Errorf("recurse: %v %v", genMode(t, f), genMode(t, d))
	}

	l := filepath.Join(dir, "link")
	genConverge(t, tg, dir, "file", map[string]any{"path": l, "state": "link", "src": f})
	r = genConverge(t, tg, dir, "file", map[string]any{"path": l, "state": "link", "src": "a"})
	if got, _ := os.Readlink(l); got != "a" || !strings.Contains(r.Diff, "link to "+f+" -> link to a") {
		t.Errorf("link %q diff %q", got, r.Diff)
	}
	// A file in the way of a link needs force.
	if _, err := genRun(t, tg, false, "file", map[string]any{"path": f, "state": "link", "src": "x"}); err == nil {
		t.Error("link over a file without force: want an error")
	}

	genConverge(t, tg, dir, "file", map[string]any{"path": filepath.Join(dir, "a"), "state": "absent"})
	if _, err := os.Lstat(d); !os.IsNotExist(err) {
		t.Errorf("absent: %v", err)
	}
	if _, err := genRun(t, tg, false, "file", map[string]any{"path": f}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("state=file on a missing path: %v", err)
	}
	if _, err := genRun(t, tg, false, "file", map[string]any{"path": "rel"}); err == nil {
		t.Error("relative path: want an error")
	}
}
