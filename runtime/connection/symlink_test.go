package connection

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

// A sudo that waits at a prompt swarmrun does not know (PAM, Kerberos,
// a second factor) ends in a clear error, not a hang.
func TestBecomeUnexpectedPromptIsBounded(t *testing.T) {
	s, cfg := setup(t)
	bin := t.TempDir()
	script := "#!/bin/sh\nprintf 'Verification code: ' >&2\nsleep 3600\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s.setEnv("PATH=" + bin + ":" + os.Getenv("PATH"))
	cfg.User, cfg.BecomePassword = "alice", "pw"
	c := dial(t, cfg)
	old := BecomeStartTimeout
	BecomeStartTimeout = 300 * time.Millisecond
	defer func() { BecomeStartTimeout = old }()
	_, err := c.Run(context.Background(), "true", RunOpts{Become: true})
	if err == nil || !strings.Contains(err.Error(), "did not start the command") || !strings.Contains(err.Error(), "Verification code") {
		t.Fatalf("err = %v", err)
	}
}

// A connection that drops under a running command gives an error that
// matches ErrConnectionLost (the runtime's UNREACHABLE), not a failure
// of the command.
func TestDroppedConnectionIsLost(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	mustRun(t, c, "true", RunOpts{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "echo started; sleep 30", RunOpts{Stdin: []byte("x")})
		errc <- err
	}()
	for i := 0; s.execs.Load() < 2 && i < 1000; i++ {
		time.Sleep(5 * time.Millisecond) // until the command was sent; not an assertion
	}
	s.dropAll()
	err := <-errc
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("err = %v, want one matching ErrConnectionLost", err)
	}
}

// The controller knows the port it reached sshd on and its own address:
// ufw's lock-out guard uses them.
func TestSSHEndpoint(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	ep, ok := c.(interface{ SSHEndpoint() (int, string) })
	if !ok {
		t.Fatal("no SSHEndpoint")
	}
	if port, client := ep.SSHEndpoint(); port != s.port() || client != "127.0.0.1" {
		t.Fatalf("endpoint %d %q, want %d 127.0.0.1", port, client, s.port())
	}
}
