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
