package connection

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// runCancelled runs cmd, which writes a pid to pidFile, and cancels it once
// the pid is there (a fixed timeout raced the shell's start on a loaded
// machine and left no pid to check). It fails unless Run returns the
// cancellation within 3 s, and returns the pid.
func runCancelled(t *testing.T, c Conn, cmd, pidFile string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.Run(ctx, cmd, RunOpts{}); done <- err }()
	var pid string
	for deadline := time.Now().Add(20 * time.Second); pid == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		b, _ := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
	}
	if pid == "" {
		t.Fatalf("%q wrote no pid in 20 s", cmd)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Run returned %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Run did not return 3 s after the cancel")
	}
	return pid
}

// waitDead fails unless process pid is gone within 5 s: the signal is sent
// at once, but on a loaded machine dying takes a moment.
func waitDead(t *testing.T, pid, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); alive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("%s %s still running", what, pid)
	}
}
