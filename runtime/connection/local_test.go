package connection

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocal(t *testing.T) {
	ctx := context.Background()
	c := dial(t, Config{Name: "here", Local: true})
	res := mustRun(t, c, "cat; echo err >&2; exit 4", RunOpts{Stdin: []byte("in")})
	if string(res.Stdout) != "in" || string(res.Stderr) != "err\n" || res.ExitCode != 4 {
		t.Errorf("Run = %+v", res)
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if _, err := c.ReadFile(ctx, p, false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile: %v", err)
	}
	if err := c.WriteFile(ctx, p, []byte("one"), WriteOpts{}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, "one", 0o644, os.Geteuid())
	os.Chmod(p, 0o600)
	if os.Geteuid() == 0 {
		os.Chown(p, 65534, 65534)
	}
	if err := c.WriteFile(ctx, p, []byte("two"), WriteOpts{}); err != nil {
		t.Fatal(err)
	}
	uid := os.Geteuid()
	if uid == 0 {
		uid = 65534
	}
	checkFile(t, p, "two", 0o600, uid)
	fi, err := c.Stat(ctx, p, false)
	if err != nil || fi.Size != 3 || fi.Mode != 0o600 {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	if got, err := c.ReadFile(ctx, p, false); err != nil || string(got) != "two" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if err := c.Fetch(ctx, p, p+".copy", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p + ".copy"); string(got) != "two" {
		t.Errorf("Fetch = %q", got)
	}
	noTemp(t, dir)

	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hi")
			c.Close()
		}
	}()
	nc, err := c.DialUnix(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(nc); string(b) != "hi" {
		t.Errorf("DialUnix read %q", b)
	}
	nc.Close()
}

func TestLocalCancel(t *testing.T) {
	c := dial(t, Config{Name: "here", Local: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	_, err := c.Run(ctx, "cd "+dir+"; sleep 30 & echo $! > pid; wait", RunOpts{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	pid, _ := os.ReadFile(filepath.Join(dir, "pid"))
	// The signal is sent at once; on a loaded machine dying takes a moment.
	for deadline := time.Now().Add(5 * time.Second); alive(string(pid)) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(string(pid)) {
		t.Errorf("child %s survived", pid)
	}
}

// alive says whether process pid runs (zombies are dead: PID 1 here may
// not reap orphans).
func alive(pid string) bool {
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(st), ") ")
	return !strings.HasPrefix(rest, "Z")
}
