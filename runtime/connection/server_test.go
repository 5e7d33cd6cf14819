package connection

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an in-process SSH server speaking the real protocol: exec
// (run locally with sh -c), the sftp subsystem (pkg/sftp's server),
// direct-streamlocal@openssh.com and direct-tcpip.
type testServer struct {
	t       testing.TB
	addr    string
	hostKey ssh.Signer
	dir     string // working directory of commands

	mu       sync.Mutex
	keys     []ssh.PublicKey
	env      []string // extra environment of commands
	password string

	failWrites atomic.Bool  // corrupt SFTP writes after the first one
	noSFTP     atomic.Bool  // refuse the sftp subsystem
	execs      atomic.Int32 // exec requests served
	noUnix     atomic.Bool  // refuse stream-local forwarding (a user not in the docker group)
	srv        *sshtest.Server
}

// dropAll cuts every client connection, as a link cut or a dead host would.
func (s *testServer) dropAll() { s.srv.DropAll() }

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir()}
	s.srv = sshtest.Start(t, sshtest.Handler{Auth: s.auth, Channel: s.channel})
	s.addr, s.hostKey = s.srv.Addr, s.srv.HostKey
	return s
}

func (s *testServer) authorize(k ssh.PublicKey) {
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
}

func (s *testServer) setEnv(env ...string) {
	s.mu.Lock()
	s.env = env
	s.mu.Unlock()
}

func (s *testServer) port() int { return s.srv.Port() }

// knownHostsLine is the known_hosts entry for this server.
func (s *testServer) knownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey.PublicKey())
}

// auth lets in the authorized keys and, when set, the password.
func (s *testServer) auth(cfg *ssh.ServerConfig) {
	cfg.PublicKeyCallback = func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, k := range s.keys {
			if string(k.Marshal()) == string(key.Marshal()) {
				return nil, nil
			}
		}
		return nil, errors.New("unknown key")
	}
	s.mu.Lock()
	password := s.password
	s.mu.Unlock()
	if password != "" {
		cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == password {
				return nil, nil
			}
			return nil, errors.New("bad password")
		}
	}
}

func (s *testServer) channel(nch ssh.NewChannel) {
	switch nch.ChannelType() {
	case "session":
		ch, reqs, err := nch.Accept()
		if err != nil {
			return
		}
		go s.session(ch, reqs)
	case "direct-streamlocal@openssh.com":
		var p struct {
			Path      string
			Reserved0 string
			Reserved1 uint32
		}
		ssh.Unmarshal(nch.ExtraData(), &p)
		if s.noUnix.Load() {
			nch.Reject(ssh.Prohibited, "permission denied")
			return
		}
		s.forward(nch, "unix", p.Path)
	case "direct-tcpip":
		var p struct {
			Host     string
			Port     uint32
			OrigHost string
			OrigPort uint32
		}
		ssh.Unmarshal(nch.ExtraData(), &p)
		s.forward(nch, "tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
	default:
		nch.Reject(ssh.UnknownChannelType, "unsupported")
	}
}

func (s *testServer) forward(nch ssh.NewChannel, network, addr string) {
	c, err := net.Dial(network, addr)
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() {
		io.Copy(ch, c)
		ch.CloseWrite()
	}()
	go func() {
		io.Copy(c, ch)
		if uc, ok := c.(interface{ CloseWrite() error }); ok {
			uc.CloseWrite()
		}
	}()
	go func() {
		// Close both once the client closes the channel.
		for range reqs {
		}
	}()
}

func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	var cmd *exec.Cmd
	// Like sshd without a pty, a command outlives its closed session.
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			ssh.Unmarshal(req.Payload, &p)
			s.execs.Add(1)
			cmd = exec.Command("sh", "-c", p.Command)
			cmd.Dir = s.dir
			s.mu.Lock()
			cmd.Env = append(os.Environ(), s.env...)
			s.mu.Unlock()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			cmd.WaitDelay = time.Second
			stdin, _ := cmd.StdinPipe()
			if err := cmd.Start(); err != nil {
				req.Reply(false, nil)
				return
			}
			req.Reply(true, nil)
			go func() {
				io.Copy(stdin, ch)
				stdin.Close()
			}()
			go func(cmd *exec.Cmd) {
				cmd.Wait()
				code := cmd.ProcessState.ExitCode()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
				ch.Close()
			}(cmd)
		case "subsystem":
			var p struct{ Name string }
			ssh.Unmarshal(req.Payload, &p)
			if p.Name != "sftp" || s.noSFTP.Load() {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			var rwc io.ReadWriteCloser = ch
			if s.failWrites.Load() {
				rwc = &failingWrites{Channel: ch}
			}
			srv, err := sftp.NewServer(rwc, sftp.WithServerWorkingDirectory(s.dir))
			if err != nil {
				return
			}
			go func() {
				srv.Serve()
				ch.Close()
			}()
		case "signal":
			// Ignored, as sshd does for root logins.
		case "env":
			req.Reply(true, nil)
		default:
			req.Reply(false, nil)
		}
	}
}

// failingWrites corrupts the handle of every SFTP write request after the
// first, so the server answers "failure" in the middle of an upload while
// the connection itself stays healthy.
type failingWrites struct {
	ssh.Channel
	buf    []byte // read, not yet framed
	out    []byte // framed, not yet returned
	writes int
}

func (f *failingWrites) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		// Pass on whole packets only: uint32 length, byte type, payload.
		if len(f.buf) >= 4 {
			if n := int(binary.BigEndian.Uint32(f.buf)) + 4; len(f.buf) >= n {
				pkt := f.buf[:n:n]
				const fxpWrite = 6
				if pkt[4] == fxpWrite {
					f.writes++
					// After the id (4 bytes) comes the handle: length, bytes.
					if f.writes > 1 && n > 13 {
						pkt[13] ^= 0xff
					}
				}
				f.out, f.buf = pkt, f.buf[n:]
				break
			}
		}
		tmp := make([]byte, 32*1024)
		n, err := f.Channel.Read(tmp)
		f.buf = append(f.buf, tmp[:n]...)
		if err != nil {
			return 0, err
		}
	}
	c := copy(p, f.out)
	f.out = f.out[c:]
	return c, nil
}

// isolate points HOME, ssh_config and the agent away from the real user's.
func isolate(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	old := sshConfigFiles
	sshConfigFiles = func() []string { return []string{filepath.Join(home, ".ssh", "config")} }
	sshConfigCache.Lock()
	sshConfigCache.m = nil
	sshConfigCache.Unlock()
	t.Cleanup(func() {
		sshConfigFiles = old
		sshConfigCache.Lock()
		sshConfigCache.m = nil
		sshConfigCache.Unlock()
	})
	return home
}

// setup starts a server and returns a Config that reaches it with a key
// and a known_hosts file that knows it.
func setup(t testing.TB) (*testServer, Config) {
	t.Helper()
	home := isolate(t)
	s := newTestServer(t)
	key, pub := sshtest.KeyFile(t)
	s.authorize(pub)
	kh := filepath.Join(home, "known_hosts")
	if err := os.WriteFile(kh, []byte(s.knownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s, Config{
		Name: "web1", Host: "127.0.0.1", Port: s.port(), User: "root",
		KeyFiles: []string{key}, KnownHostsFile: kh, ConnectTimeout: 5 * time.Second,
	}
}

func fileUID(st os.FileInfo) int {
	return int(st.Sys().(*syscall.Stat_t).Uid)
}

// serveUnix listens on a new unix socket, hands every connection to
// handle, and returns the socket's path.
func serveUnix(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	sshtest.Listen(t, "unix", sock, handle)
	return sock
}

// echo sends back what it reads, until the other side closes.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.Close()
}
