package modules

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
)

func TestWaitForLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "ready")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := genRun(t, tg, false, "wait_for", map[string]any{"path": f, "wait_timeout": int64(2)})
	if err != nil || r.Changed {
		t.Fatalf("path present: %+v %v", r, err)
	}
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"path": f + ".no", "wait_timeout": int64(1)}); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("missing path: %v", err)
	}
	if r, err := genRun(t, tg, true, "wait_for", map[string]any{"path": f + ".no"}); err != nil || r.Changed || !strings.Contains(r.Msg, "would wait") {
		t.Errorf("check mode: %+v %v", r, err)
	}

	ln := sshtest.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) { c.Close() })
	port := int64(ln.Addr().(*net.TCPAddr).Port)
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"port": port, "wait_timeout": int64(5)}); err != nil {
		t.Errorf("open port: %v", err)
	}
	ln.Close()
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"port": port, "state": "stopped", "wait_timeout": int64(5)}); err != nil {
		t.Errorf("closed port: %v", err)
	}
}

// TestWaitForDocker: the engine probe against a fake engine socket: /_ping
// answers at once, /info says whether it acts as a swarm manager.
func TestWaitForDocker(t *testing.T) {
	tg := genTarget(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	var manager atomic.Bool
	sshtest.Listen(t, "unix", sock, func(c net.Conn) {
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		body := `{"Swarm":{"ControlAvailable":false}}`
		if manager.Load() {
			body = `{"Swarm":{"ControlAvailable":true}}`
		}
		if strings.HasPrefix(string(buf[:n]), "GET /_ping ") {
			body = "OK"
		}
		c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body))
		c.Close()
	})
	if r, err := genRun(t, tg, false, "wait_for", map[string]any{"docker": "answering", "socket": sock, "wait_timeout": int64(5)}); err != nil || r.Changed || !strings.HasPrefix(r.Msg, "answering after") {
		t.Fatalf("engine answering: %+v %v", r, err)
	}
	_, err := genRun(t, tg, false, "wait_for", map[string]any{"docker": "manager", "socket": sock, "wait_timeout": int64(1)})
	if err == nil || !strings.Contains(err.Error(), "the Docker engine as a swarm manager to be answering") {
		t.Errorf("not a manager: %v", err)
	}
	manager.Store(true)
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"docker": "manager", "socket": sock, "wait_timeout": int64(5)}); err != nil {
		t.Errorf("manager: %v", err)
	}
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"docker": "answering", "socket": sock + ".no", "wait_timeout": int64(1)}); err == nil {
		t.Error("no socket: want a timeout")
	}
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"docker": "answering", "path": sock}); err == nil {
		t.Error("docker and path: want an error")
	}
}
