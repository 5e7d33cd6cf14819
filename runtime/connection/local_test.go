package connection

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalCancel(t *testing.T) {
	c := dial(t, Config{Name: "here", Local: true})
	dir := t.TempDir()
	pid := runCancelled(t, c, "cd "+dir+"; sleep 30 & echo $! > pid; wait", filepath.Join(dir, "pid"))
	waitDead(t, pid, "child")
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
