package modules

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int64(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"port": port, "wait_timeout": int64(5)}); err != nil {
		t.Errorf("open port: %v", err)
	}
	ln.Close()
	if _, err := genRun(t, tg, false, "wait_for", map[string]any{"port": port, "state": "stopped", "wait_timeout": int64(5)}); err != nil {
		t.Errorf("closed port: %v", err)
	}
}
