package connection

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	"golang.org/x/crypto/ssh/agent"
)

func dial(t *testing.T, c Config) Conn {
	t.Helper()
	conn, err := Dial(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func mustRun(t *testing.T, c Conn, cmd string, o RunOpts) *RunResult {
	t.Helper()
	res, err := c.Run(context.Background(), cmd, o)
	if err != nil {
		t.Fatalf("Run(%q): %v", cmd, err)
	}
	return res
}

func TestConcurrentSessions(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	// Each command waits until all 8 have started: they can only finish if
	// the connection runs 8 sessions at once. (A barrier, not a stopwatch,
	// so a loaded machine cannot make this pass or fail by timing.)
	dir := t.TempDir()
	const n = 8
	cmd := func(i int) string {
		return fmt.Sprintf("touch %s/%d; i=0; while [ $(ls %s | wc -l) -lt %d ]; do sleep 0.05; i=$((i+1)); [ $i -gt 1200 ] && exit 9; done; echo ok", dir, i, dir, n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(context.Background(), cmd(i), RunOpts{})
			if err != nil || string(res.Stdout) != "ok\n" {
				errs <- fmt.Errorf("session %d: %v %+v (not concurrent?)", i, err, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.execs.Load(); got != n {
		t.Errorf("%d execs", got)
	}
}

func TestCancel(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, "echo $$ > pid; sleep 30", RunOpts{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	pid, _ := os.ReadFile(filepath.Join(s.dir, "pid"))
	for i := 0; alive(string(pid)) && i < 500; i++ { // 5 s: a loaded machine is slow
		time.Sleep(10 * time.Millisecond)
	}
	if alive(string(pid)) {
		t.Errorf("remote command %s still running", pid)
	}
	// The connection survives.
	mustRun(t, c, "true", RunOpts{})
}

func TestHostKeyUnknownStrict(t *testing.T) {
	_, cfg := setup(t)
	os.WriteFile(cfg.KnownHostsFile, nil, 0o600)
	_, err := Dial(context.Background(), cfg)
	if err == nil {
		t.Fatal("connected to an unknown host")
	}
	for _, want := range []string{"web1", "unknown", "SHA256:", cfg.KnownHostsFile} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestHostKeyAcceptNew(t *testing.T) {
	s, cfg := setup(t)
	os.Remove(cfg.KnownHostsFile)
	cfg.HostKeyChecking = AcceptNew
	// Many connections at once to one new host add it once.
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(cfg.KnownHostsFile)
	if got := strings.Count(string(data), "\n"); got != 1 || !strings.Contains(string(data), strings.TrimSpace(s.knownHostsLine())) {
		t.Fatalf("known_hosts = %q", data)
	}
	cfg.HostKeyChecking = Strict
	dial(t, cfg)
}

func TestHostKeyAcceptNewHashed(t *testing.T) {
	_, cfg := setup(t)
	home := os.Getenv("HOME")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host *\n  HashKnownHosts yes\n"), 0o600)
	os.WriteFile(cfg.KnownHostsFile, []byte("# comment without newline"), 0o600)
	cfg.HostKeyChecking = AcceptNew
	dial(t, cfg)
	data, _ := os.ReadFile(cfg.KnownHostsFile)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "|1|") {
		t.Fatalf("known_hosts = %q", data)
	}
	cfg.HostKeyChecking = Strict
	dial(t, cfg)
}

func TestHostKeyChanged(t *testing.T) {
	s, cfg := setup(t)
	other := &testServer{hostKey: sshtest.NewSigner(t), addr: s.addr}
	old := other.knownHostsLine() + "\n"
	os.WriteFile(cfg.KnownHostsFile, []byte(old), 0o600)
	for _, policy := range []string{Strict, AcceptNew} {
		cfg.HostKeyChecking = policy
		_, err := Dial(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), "web1") {
			t.Errorf("%s: err = %v", policy, err)
		}
	}
	if data, _ := os.ReadFile(cfg.KnownHostsFile); string(data) != old {
		t.Errorf("known_hosts changed: %q", data)
	}
	cfg.HostKeyChecking = Off
	dial(t, cfg)
}

func TestAgentAuth(t *testing.T) {
	s, cfg := setup(t)
	keyring := agent.NewKeyring()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	signers, _ := keyring.Signers()
	s.authorize(signers[0].PublicKey())
	sock := serveUnix(t, func(c net.Conn) { agent.ServeAgent(keyring, c) })
	t.Setenv("SSH_AUTH_SOCK", sock)
	cfg.KeyFiles = nil // only the agent's key
	c := dial(t, cfg)
	mustRun(t, c, "true", RunOpts{})

	t.Setenv("SSH_AUTH_SOCK", "")
	_, err := Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "authentication") {
		t.Errorf("without agent: err = %v", err)
	}
}

func TestPasswordAuth(t *testing.T) {
	s, cfg := setup(t)
	s.mu.Lock()
	s.password = "hunter2"
	s.mu.Unlock()
	cfg.KeyFiles = []string{filepath.Join(t.TempDir(), "missing")}
	cfg.Password = "hunter2"
	dial(t, cfg)
	cfg.Password = "wrong"
	_, err := Dial(context.Background(), cfg)
	if err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteFailureLeavesOldFile(t *testing.T) {
	s, cfg := setup(t)
	s.failWrites.Store(true)
	c := dial(t, cfg)
	p := filepath.Join(s.dir, "big")
	os.WriteFile(p, []byte("old"), 0o644)
	data := bytes.Repeat([]byte("x"), 300*1024) // several SFTP write packets
	err := c.WriteFile(context.Background(), p, data, WriteOpts{})
	if err == nil {
		t.Fatal("write succeeded")
	}
	t.Log(err)
	checkFile(t, p, "old", 0o644, 0)
	noTemp(t, s.dir)
}

func checkFile(t *testing.T, p, content string, mode fs.FileMode, uid int) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || string(got) != content {
		t.Errorf("%s = %q, %v; want %q", p, got, err, content)
	}
	st, err := os.Stat(p)
	if err != nil {
		return
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), mode)
	}
	if u := fileUID(st); u != uid {
		t.Errorf("%s owner %d, want %d", p, u, uid)
	}
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".swarmrun-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// fakeSudo installs a sudo on the server's PATH that asks for password (if
// any) on stdin like sudo -S, then runs the command as is.
func fakeSudo(t *testing.T, s *testServer, password string) {
	t.Helper()
	bin := t.TempDir()
	script := `#!/bin/sh
prompt=
while [ $# -gt 0 ]; do
  case "$1" in
    -p) prompt=$2; shift 2;;
    -u) echo "$2" > "$FAKESUDO_LOG"; shift 2;;
    --) shift; break;;
    *) shift;;
  esac
done
if [ -n "$FAKESUDO_PASSWORD" ]; then
  tries=0
  while :; do
    printf '%s' "$prompt" >&2
    IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
    [ "$pw" = "$FAKESUDO_PASSWORD" ] && break
    tries=$((tries+1))
    [ $tries -lt 3 ] || { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
    echo "Sorry, try again." >&2
  done
fi
exec "$@"
`
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s.setEnv("PATH="+bin+":"+os.Getenv("PATH"), "FAKESUDO_PASSWORD="+password, "FAKESUDO_LOG="+filepath.Join(bin, "log"))
}

// sudoBin is where fakeSudo put its sudo.
func sudoBin(s *testServer) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.SplitN(strings.TrimPrefix(s.env[0], "PATH="), ":", 2)[0]
}

// sudoAsAlice is a server with the fake sudo (its password sudoPW) and a
// Config that logs in as alice with becomePW.
func sudoAsAlice(t *testing.T, sudoPW, becomePW string) (*testServer, Config) {
	t.Helper()
	s, cfg := setup(t)
	fakeSudo(t, s, sudoPW)
	cfg.User = "alice"
	cfg.BecomePassword = becomePW
	return s, cfg
}

// TestBecome: what is particular to sudo (commands and files with become
// are in the conformance suite's ssh+sudo backend).
func TestBecome(t *testing.T) {
	s, cfg := sudoAsAlice(t, "s3cret", "s3cret")
	c := dial(t, cfg)
	ctx := context.Background()

	mustRun(t, c, "true", RunOpts{Become: true, BecomeUser: "postgres"})
	if u, _ := os.ReadFile(filepath.Join(sudoBin(s), "log")); string(u) != "postgres\n" {
		t.Errorf("sudo -u %q", u)
	}

	// Wrong and missing passwords: clear errors that never show it.
	cfg.BecomePassword = "wrong-pw"
	c2 := dial(t, cfg)
	_, err := c2.Run(ctx, "true", RunOpts{Become: true})
	if err == nil || strings.Contains(err.Error(), "wrong-pw") || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong password: %v", err)
	}
	cfg.BecomePassword = ""
	c3 := dial(t, cfg)
	_, err = c3.Run(ctx, "true", RunOpts{Become: true})
	if !errors.Is(err, ErrBecomePassword) {
		t.Errorf("no password: %v", err)
	}
	// Root needs no sudo at all.
	cfg.User = "root"
	c4 := dial(t, cfg)
	if res := mustRun(t, c4, "true", RunOpts{Become: true}); res.ExitCode != 0 {
		t.Error(res)
	}
}

// With NOPASSWD sudo the password must not end up on the command's stdin.
func TestBecomeNoPasswordNeeded(t *testing.T) {
	_, cfg := sudoAsAlice(t, "", "s3cret")
	c := dial(t, cfg)
	res := mustRun(t, c, "cat", RunOpts{Become: true, Stdin: []byte("only this")})
	if string(res.Stdout) != "only this" {
		t.Errorf("stdout = %q", res.Stdout)
	}
}

func TestBecomeWithoutSudo(t *testing.T) {
	s, cfg := setup(t)
	s.setEnv("PATH=/nonexistent")
	cfg.User = "alice"
	c := dial(t, cfg)
	_, err := c.Run(context.Background(), "true", RunOpts{Become: true})
	if err == nil || !strings.Contains(err.Error(), "become") {
		t.Errorf("err = %v", err)
	}
}

// fakeDocker serves the two API calls a negotiating client makes, and
// makes its socket the one DockerClient reaches until the test ends.
func fakeDocker(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		switch {
		case r.URL.Path == "/_ping":
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/version"):
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"Version":"20.10.24","ApiVersion":"1.41"}`))
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	old := dockerSocket
	dockerSocket = sock
	t.Cleanup(func() { dockerSocket = old })
	return sock
}

// dockerVersion asks the engine behind c's Docker client for its version.
func dockerVersion(t *testing.T, c Conn, become bool) (*client.Client, string) {
	t.Helper()
	cli, err := DockerClient(context.Background(), c, become)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	v, err := cli.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cli, v.Version
}

func TestDockerClient(t *testing.T) {
	_, cfg := setup(t)
	c := dial(t, cfg)
	fakeDocker(t)
	cli, version := dockerVersion(t, c, false)
	if version != "20.10.24" || cli.ClientVersion() != "1.41" {
		t.Errorf("version %q, API %q", version, cli.ClientVersion())
	}
}

// When the login user may not open the socket, become runs the Perl relay
// with sudo: real perl, the fake sudo, the fake engine's socket. No docker
// CLI is involved (Debian 13's docker.io has none).
func TestDockerClientRelay(t *testing.T) {
	s, cfg := sudoAsAlice(t, "pw", "pw")
	s.noUnix.Store(true)
	sock := fakeDocker(t)

	c := dial(t, cfg)
	if _, version := dockerVersion(t, c, true); version != "20.10.24" {
		t.Errorf("version %q", version)
	}
	// No engine yet (a fresh host before Docker is installed): the error
	// says so instead of hanging or blaming a missing command.
	dockerSocket = sock + ".absent"
	cli2, err := DockerClient(context.Background(), c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cli2.Close()
	_, err = cli2.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is Docker installed and running") {
		t.Errorf("ping without an engine: %v", err)
	}
}

// Conn.Docker keeps one client per become setting: with become it is the
// relay's (the user may not open the socket), without it the direct path,
// which fails; neither is the other's cached client.
func TestConnDockerPerBecome(t *testing.T) {
	s, cfg := sudoAsAlice(t, "pw", "pw")
	s.noUnix.Store(true)
	sock := fakeDocker(t)
	old := dockerSocket
	dockerSocket = sock
	defer func() { dockerSocket = old }()

	c := dial(t, cfg)
	ctx := context.Background()
	withSudo, err := c.Docker(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Docker(ctx, true); again != withSudo {
		t.Error("a second Docker(become) made a new client")
	}
	if _, err := withSudo.Ping(ctx); err != nil {
		t.Errorf("ping with become: %v", err)
	}
	direct, err := c.Docker(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if direct == withSudo {
		t.Fatal("Docker(false) returned the become client")
	}
	if _, err := direct.Ping(ctx); err == nil {
		t.Error("ping without become reached the socket the user may not open")
	}
}

func TestProxyJump(t *testing.T) {
	target, cfg := setup(t)
	jump := newTestServer(t)
	key, pub := sshtest.KeyFile(t)
	jump.authorize(pub)
	target.authorize(pub)
	os.WriteFile(cfg.KnownHostsFile, []byte(target.knownHostsLine()+"\n"+jump.knownHostsLine()+"\n"), 0o600)
	cfg.KeyFiles = []string{key}
	cfg.ProxyJump = "bastion@" + jump.addr
	c := dial(t, cfg)
	if res := mustRun(t, c, "echo via", RunOpts{}); string(res.Stdout) != "via\n" {
		t.Errorf("got %q", res.Stdout)
	}
	if jump.execs.Load() != 0 || target.execs.Load() != 1 {
		t.Errorf("execs: jump %d, target %d", jump.execs.Load(), target.execs.Load())
	}
	// Two hops.
	jump2 := newTestServer(t)
	jump2.authorize(pub)
	os.WriteFile(cfg.KnownHostsFile, []byte(target.knownHostsLine()+"\n"+jump.knownHostsLine()+"\n"+jump2.knownHostsLine()+"\n"), 0o600)
	cfg.ProxyJump = "a@" + jump.addr + ",b@" + jump2.addr
	c2 := dial(t, cfg)
	mustRun(t, c2, "true", RunOpts{})
	if jump2.execs.Load() != 0 || target.execs.Load() != 2 {
		t.Errorf("execs: jump2 %d, target %d", jump2.execs.Load(), target.execs.Load())
	}
	cfg.ProxyJump = "bastion@" + jump.addr

	// An unknown jump host is refused like any other.
	os.WriteFile(cfg.KnownHostsFile, []byte(target.knownHostsLine()+"\n"), 0o600)
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "jump host") {
		t.Errorf("err = %v", err)
	}
}

// A link that goes silent is noticed by keepalives: the next step fails
// fast instead of hanging.
func TestKeepAliveDeadLink(t *testing.T) {
	s, cfg := setup(t)
	// A proxy whose link can be cut without closing the sockets.
	var frozen atomic.Bool
	ln := sshtest.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		up, err := net.Dial("tcp", s.addr)
		if err != nil {
			c.Close()
			return
		}
		pipe := func(dst, src net.Conn) {
			buf := make([]byte, 32*1024)
			for {
				n, err := src.Read(buf)
				if err != nil {
					dst.Close()
					return
				}
				if frozen.Load() {
					continue // dropped on the floor
				}
				dst.Write(buf[:n])
			}
		}
		go pipe(up, c)
		go pipe(c, up)
	})
	// known_hosts names the server's own address; the proxy only forwards.
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	cfg.HostKeyChecking = Off
	cfg.KeepAlive = 50 * time.Millisecond
	c := dial(t, cfg)
	mustRun(t, c, "true", RunOpts{})
	time.Sleep(150 * time.Millisecond) // answered keepalives keep it open
	mustRun(t, c, "true", RunOpts{})

	frozen.Store(true)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Run(ctx, "sleep 10", RunOpts{})
	if err == nil || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	t.Log(err)
}
