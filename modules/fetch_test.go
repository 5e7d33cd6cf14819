package modules

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFetchDest(t *testing.T) {
	cases := []struct {
		dir, dest, host, src string
		flat                 bool
		want                 string
	}{
		{"/pb", "backup", "web1", "/etc/motd", false, "/pb/backup/web1/etc/motd"},
		{"/pb", "/abs/out", "web1", "/etc/docker/daemon.json", false, "/abs/out/web1/etc/docker/daemon.json"},
		{"/pb", "out", "h", "/etc/../../x", false, "/pb/out/h/x"},
		{"/pb", "out/f.txt", "h", "/etc/motd", true, "/pb/out/f.txt"},
		{"/pb", "out/", "h", "/etc/motd", true, "/pb/out/motd"},
		{"/pb", "/abs/", "h", "/etc/motd", true, "/abs/motd"},
	}
	for _, c := range cases {
		if got := fetchDest(c.dir, c.dest, c.host, c.src, c.flat); got != c.want {
			t.Errorf("fetchDest(%q, %q, %q, %q, %v) = %q, want %q", c.dir, c.dest, c.host, c.src, c.flat, got, c.want)
		}
	}
}

func TestFetchLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "remote.conf")
	if err := os.WriteFile(src, []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	r := genConverge(t, tg, out, "fetch", map[string]any{"src": src, "dest": out})
	want := filepath.Join(out, "local", src)
	if genRead(t, want) != "v1\n" || r.Outputs["dest"] != want {
		t.Fatalf("%+v", r.Outputs)
	}
	if err := os.WriteFile(src, []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	genConverge(t, tg, out, "fetch", map[string]any{"src": src, "dest": out})
	if genRead(t, want) != "v2\n" {
		t.Fatal("not updated")
	}
	genConverge(t, tg, out, "fetch", map[string]any{"src": src, "dest": out + "/", "flat": true})
	if genRead(t, filepath.Join(out, "remote.conf")) != "v2\n" {
		t.Fatal("flat")
	}
	if _, err := genRun(t, tg, false, "fetch", map[string]any{"src": src + ".none", "dest": out}); err == nil {
		t.Error("missing src: want an error")
	}
	if r, err := genRun(t, tg, false, "fetch", map[string]any{"src": src + ".none", "dest": out, "fail_on_missing": false}); err != nil || r.Changed {
		t.Errorf("fail_on_missing=False: %+v %v", r, err)
	}
}
