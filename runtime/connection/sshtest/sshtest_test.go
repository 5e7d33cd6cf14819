package sshtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func dial(addr string, hostKey ssh.PublicKey) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "root",
		HostKeyCallback: ssh.FixedHostKey(hostKey), Timeout: 2 * time.Second})
}

// A server that goes Down drops its clients and refuses new ones; Up brings
// it back on the same address with the same host key.
func TestDownUp(t *testing.T) {
	s := Start(t, Handler{Auth: func(cfg *ssh.ServerConfig) { cfg.NoClientAuth = true }})
	c, err := dial(s.Addr, s.HostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	s.Down()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a client outlived Down")
	}
	if _, err := dial(s.Addr, s.HostKey.PublicKey()); err == nil {
		t.Fatal("dialled a server that is down")
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	c, err = dial(s.Addr, s.HostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.OpenChannel("session", nil); err == nil {
		t.Error("a server without a channel handler accepted a channel")
	}
	if p, _ := strconv.Atoi(s.Addr[strings.LastIndex(s.Addr, ":")+1:]); p != s.Port() || p == 0 {
		t.Errorf("Port %d, Addr %s", s.Port(), s.Addr)
	}
}

// The package is test support: only _test.go files may import it.
func TestOnlyTestsImport(t *testing.T) {
	const self = "github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	root := filepath.Join("..", "..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == strconv.Quote(self) {
				t.Errorf("%s imports %s", p, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
