// Package sshtest is the in-process SSH server that the tests of several
// packages share: a host key, a listener on a free port of 127.0.0.1, one
// goroutine per connection, everything closed when the test ends. What a
// test's server does (who may log in, what a channel runs) is passed in.
// Import it from _test.go files only.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Handler is the per-test part of a server.
type Handler struct {
	// Auth sets the authentication callbacks of a connection's config; it is
	// called for every connection, so a test may change who may log in.
	Auth func(*ssh.ServerConfig)
	// Channel gets every channel a client opens; nil rejects them all.
	Channel func(ssh.NewChannel)
}

// Server is an SSH server listening on Addr until the test ends.
type Server struct {
	Addr    string
	HostKey ssh.Signer

	h     Handler
	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn // accepted, for DropAll
	ended bool
}

// Start listens on a free port of 127.0.0.1 with a new host key.
func Start(t testing.TB, h Handler) *Server {
	t.Helper()
	s := &Server{HostKey: NewSigner(t), h: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	go accept(ln, s.serve)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.ended = true
		s.ln.Close()
	})
	return s
}

// Port is the port of Addr.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// DropAll cuts every client connection, as a link cut or a dead host would.
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// Down stops listening and cuts every connection, as a host going down.
func (s *Server) Down() {
	s.mu.Lock()
	s.ln.Close()
	s.mu.Unlock()
	s.DropAll()
}

// Up listens again on the same address after Down; once the test has
// ended it does nothing.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	go accept(ln, s.serve)
	return nil
}

func (s *Server) serve(nc net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, nc)
	s.mu.Unlock()
	cfg := &ssh.ServerConfig{}
	if s.h.Auth != nil {
		s.h.Auth(cfg)
	}
	cfg.AddHostKey(s.HostKey)
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		nc.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs) // answers keepalives with "failure", as sshd does
	for nch := range chans {
		if s.h.Channel == nil {
			nch.Reject(ssh.UnknownChannelType, "unsupported")
			continue
		}
		s.h.Channel(nch)
	}
}

// Listen listens on network and addr, hands every connection to handle in
// its own goroutine and closes the listener when the test ends.
func Listen(t testing.TB, network, addr string, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go accept(ln, handle)
	return ln
}

func accept(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go handle(c)
	}
}

// FreePort is a TCP port of 127.0.0.1 that was free a moment ago, for a
// server started in another process.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// NewSigner is a new ed25519 key.
func NewSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// KeyFile writes a new OpenSSH private key and returns its path and public
// key.
func KeyFile(t testing.TB) (string, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := ssh.NewSignerFromKey(priv)
	return path, s.PublicKey()
}
