package connection

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Writing through a symlink writes its target and keeps the link, the
// target's mode and its owner, as Ansible does: on the SFTP path and on
// the shell (become) path alike.
func TestWriteThroughSymlink(t *testing.T) {
	for _, become := range []bool{false, true} {
		s, cfg := setup(t)
		if become {
			fakeSudo(t, s, "pw")
			cfg.User, cfg.BecomePassword = "alice", "pw"
		}
		c := dial(t, cfg)
		dir := filepath.Join(s.dir, "etc")
		os.Mkdir(dir, 0o755)
		target := filepath.Join(dir, "real.conf")
		link := filepath.Join(dir, "app.conf")
		os.WriteFile(target, []byte("old\n"), 0o640)
		os.Chown(target, 65534, 65534)
		os.Symlink("real.conf", link)

		if err := c.WriteFile(context.Background(), link, []byte("new\n"), WriteOpts{Become: become}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("become=%v: the link was replaced: %v %v", become, fi.Mode(), err)
		}
		checkFile(t, target, "new\n", 0o640, 65534)
		noTemp(t, dir)
	}
}

// The SFTP temporary file is never readable by others while it exists:
// SFTP creates it with the server's default mode, so it must be made in
// a private place.
func TestSFTPTempFileIsPrivate(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	p := filepath.Join(s.dir, "secret.conf")
	var exposed []string
	testHookTempCreated = func(tmp string) {
		for d := tmp; d != s.dir && d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o077 == 0 {
				return // a private file, or in a private directory
			}
		}
		exposed = append(exposed, tmp)
	}
	defer func() { testHookTempCreated = nil }()
	if err := c.WriteFile(context.Background(), p, []byte("top secret"), WriteOpts{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if len(exposed) > 0 {
		t.Fatalf("temporary file readable by others when created: %v", exposed)
	}
	checkFile(t, p, "top secret", 0o600, os.Getuid())
	noTemp(t, s.dir)
}
