package modules

import "testing"

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
