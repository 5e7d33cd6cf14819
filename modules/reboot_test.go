package modules

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/modules/internal/kittest"
	"github.com/swarmrun/swarmrun/runtime/connection"
	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	"golang.org/x/crypto/ssh"
)

// rebootServer is an in-process SSH server (the real protocol, commands run
// with sh -c in dir) that "reboots": when a command creates dir/reboot, it
// drops every connection, stops listening for down, writes a new dir/boot_id
// and listens again on the same address.
type rebootServer struct {
	t    *testing.T
	dir  string
	down time.Duration
	srv  *sshtest.Server
	mu   sync.Mutex
	boot int
}

func newRebootServer(t *testing.T, down time.Duration) (*rebootServer, connection.Config) {
	keyFile, cpub := sshtest.KeyFile(t)
	s := &rebootServer{t: t, dir: t.TempDir(), down: down}
	s.writeBootID()
	s.srv = sshtest.Start(t, sshtest.Handler{
		Auth: func(cfg *ssh.ServerConfig) {
			cfg.PublicKeyCallback = func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
				if string(k.Marshal()) == string(cpub.Marshal()) {
					return nil, nil
				}
				return nil, io.EOF
			}
		},
		Channel: s.channel,
	})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() { // the "reboot command" creates dir/reboot
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if os.Remove(filepath.Join(s.dir, "reboot")) == nil {
				s.reboot()
			}
		}
	}()
	return s, connection.Config{Name: "node", Host: "127.0.0.1", Port: s.srv.Port(), User: "root", KeyFiles: []string{keyFile},
		HostKeyChecking: connection.Off, ConnectTimeout: 2 * time.Second, KeepAlive: -1}
}

func (s *rebootServer) writeBootID() {
	s.mu.Lock()
	s.boot++
	boot := s.boot
	s.mu.Unlock()
	os.WriteFile(filepath.Join(s.dir, "boot_id"), []byte(strings.Repeat(string(rune('a'+boot)), 8)+"\n"), 0o644)
}

// reboot drops everything, stays down, comes back with a new boot ID.
func (s *rebootServer) reboot() {
	s.srv.Down()
	time.Sleep(s.down)
	s.writeBootID()
	if err := s.srv.Up(); err != nil {
		s.t.Error(err)
	}
}

func (s *rebootServer) channel(nch ssh.NewChannel) {
	if nch.ChannelType() != "session" {
		nch.Reject(ssh.UnknownChannelType, "no")
		return
	}
	ch, creqs, err := nch.Accept()
	if err != nil {
		return
	}
	go s.session(ch, creqs)
}

func (s *rebootServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(req.Type == "env", nil)
			continue
		}
		var p struct{ Command string }
		ssh.Unmarshal(req.Payload, &p)
		cmd := exec.Command("sh", "-c", p.Command)
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		stdin, _ := cmd.StdinPipe()
		req.Reply(cmd.Start() == nil, nil)
		go func() { io.Copy(stdin, ch); stdin.Close() }()
		cmd.Wait()
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(cmd.ProcessState.ExitCode())}))
		return
	}
}

func rebootTarget(t *testing.T, cfg connection.Config, check bool) *Target {
	c, err := connection.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Target{Name: "node", Conn: c, Check: check, Diff: true,
		Reconnect: func(ctx context.Context) (connection.Conn, error) { return connection.Dial(ctx, cfg) }}
}

func TestReboot(t *testing.T) {
	s, cfg := newRebootServer(t, 1500*time.Millisecond)
	defer func(c string, d time.Duration) { bootIDCmd, rebootPoll = c, d }(bootIDCmd, rebootPoll)
	bootIDCmd, rebootPoll = "cat boot_id", 300*time.Millisecond
	// The command sleeps 1 s in the background, then "reboots".
	p := Params{"reboot_command": "touch reboot", "reboot_timeout": int64(20)}

	r, err := runReboot(context.Background(), rebootTarget(t, cfg, true), p)
	if err != nil || !r.Changed || r.Msg != "would reboot" || s.boot != 1 {
		t.Fatalf("check: %+v %v (boots %d)", r, err, s.boot)
	}
	time.Sleep(1500 * time.Millisecond)
	if s.boot != 1 {
		t.Fatal("--check rebooted the host")
	}
	tgt := rebootTarget(t, cfg, false)
	r, err = runReboot(context.Background(), tgt, p)
	if err != nil || !r.Changed || r.Outputs["boot_id"] != "cccccccc" {
		t.Fatalf("reboot: %+v %v", r, err)
	}
	if secs := r.Outputs["boot_seconds"].(float64); secs < 2.5 || !strings.Contains(r.Msg, "back after") {
		t.Errorf("boot time %.1f s (the server was down 1.5 s after a 1 s delay): %s", secs, r.Msg)
	}
	if out, err := Sh(context.Background(), tgt, "cat boot_id"); err != nil || strings.TrimSpace(out) != "cccccccc" {
		t.Errorf("the target's connection after the reboot: %q %v", out, err)
	}

	// A host that never comes back fails the step within reboot_timeout.
	s.down = time.Hour
	p["reboot_timeout"] = int64(3)
	_, err = runReboot(context.Background(), rebootTarget(t, cfg, false), p)
	if err == nil || !strings.Contains(err.Error(), "did not come back") {
		t.Errorf("no comeback: %v", err)
	}
}

// kitReboot is reboot's conformance fixture (conformance_test.go): the
// in-process server above, whose boot count is what a run touches.
func kitReboot(t *testing.T) kittest.Runner {
	s, cfg := newRebootServer(t, 300*time.Millisecond)
	c, d := bootIDCmd, rebootPoll
	t.Cleanup(func() { bootIDCmd, rebootPoll = c, d })
	bootIDCmd, rebootPoll = "cat boot_id", 200*time.Millisecond
	p := Params{"reboot_command": "touch reboot", "reboot_timeout": int64(20)}
	return kittest.Runner{
		Run: func(check bool) (kittest.Outcome, error) {
			return outcome(runReboot(context.Background(), rebootTarget(t, cfg, check), p))
		},
		Touched:  func() any { s.mu.Lock(); defer s.mu.Unlock(); return s.boot },
		EveryRun: true,
	}
}
