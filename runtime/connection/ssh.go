package connection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// maxSessions bounds concurrent exec sessions per connection: OpenSSH's
// MaxSessions defaults to 10 and SFTP holds one.
const maxSessions = 8

// sshConn is one SSH connection; every command, file operation and socket
// is multiplexed over it.
type sshConn struct {
	cfg      Config
	client   *ssh.Client
	jumps    []*ssh.Client // outermost first
	root     bool          // logged in as root: no sudo needed
	sessions chan struct{}
	done     chan struct{}
	once     sync.Once

	sftpMu sync.Mutex
	sftp   *sftp.Client
	noSFTP bool // the server has no sftp subsystem: use the shell

	ids idCache

	shellMu sync.Mutex
	shells  map[string]*shell // by shellKey

	docker dockerClients
}

// Dial connects to the host c describes (through its ProxyJump chain) and
// authenticates with c's keys, ssh-agent and password. c is normally the
// result of FromVars; unset fields get defaults.
func Dial(ctx context.Context, c Config) (Conn, error) {
	applyDefaults(&c)
	if c.Local {
		return dialLocal(c), nil
	}
	a := loadAuth(c)
	defer a.close()
	hk := &hostKeys{file: c.KnownHostsFile, policy: c.HostKeyChecking}
	hk.hash = strings.EqualFold(sshConfigGet(c.Host, "HashKnownHosts"), "yes")

	var jumps []*ssh.Client
	fail := func(err error) (Conn, error) {
		for i := len(jumps) - 1; i >= 0; i-- {
			jumps[i].Close()
		}
		return nil, err
	}
	var via *ssh.Client
	for _, j := range splitJumps(c.ProxyJump) {
		jc := jumpConfig(j, c)
		cl, err := hop(ctx, via, jc, a, hk, fmt.Sprintf("jump host %s for %s", jc.Host, c.Name))
		if err != nil {
			return fail(err)
		}
		jumps = append(jumps, cl)
		via = cl
	}
	cl, err := hop(ctx, via, c, a, hk, c.Name)
	if err != nil {
		return fail(err)
	}
	conn := &sshConn{
		cfg:      c,
		client:   cl,
		jumps:    jumps,
		root:     c.User == "root",
		sessions: make(chan struct{}, maxSessions),
		done:     make(chan struct{}),
	}
	if c.KeepAlive > 0 {
		go conn.keepAlive(c.KeepAlive)
	}
	// A transport that dies (link cut, sshd killed) closes the connection,
	// so commands on it report it lost rather than failed.
	go func() { cl.Wait(); conn.Close() }()
	return conn, nil
}

// hop opens one SSH connection, directly or through via.
func hop(ctx context.Context, via *ssh.Client, c Config, a *auth, hk *hostKeys, name string) (*ssh.Client, error) {
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	ctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if via == nil {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = via.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s", c.ConnectTimeout)
		}
		return nil, fmt.Errorf("%s: cannot connect to %s: %w (check ansible_host/ansible_port and that sshd runs there)", name, addr, err)
	}
	// The handshake has no context: closing the socket ends it.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	cfg := &ssh.ClientConfig{
		User:              c.User,
		Auth:              a.methods(c.Password),
		HostKeyCallback:   hk.callback(name),
		HostKeyAlgorithms: hk.algorithms(addr),
		ClientVersion:     "SSH-2.0-swarmrun",
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: SSH handshake with %s timed out after %s", name, addr, c.ConnectTimeout)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("%s: authentication as %q failed (%s); set ansible_user, ansible_ssh_private_key_file or load the key into ssh-agent",
				name, c.User, a.describe(c.Password != ""))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// splitJumps splits a ProxyJump list.
func splitJumps(s string) []string {
	var out []string
	for _, j := range strings.Split(s, ",") {
		if j = strings.TrimSpace(j); j != "" && !strings.EqualFold(j, "none") {
			out = append(out, j)
		}
	}
	return out
}

// jumpConfig turns "[user@]host[:port]" into a Config for that hop; the
// jump host's own ssh_config entry fills the rest, as OpenSSH does.
func jumpConfig(spec string, target Config) Config {
	j := Config{
		KnownHostsFile:  target.KnownHostsFile,
		HostKeyChecking: target.HostKeyChecking,
		ConnectTimeout:  target.ConnectTimeout,
	}
	if i := strings.LastIndex(spec, "@"); i >= 0 {
		j.User, spec = spec[:i], spec[i+1:]
	}
	if h, p, err := net.SplitHostPort(spec); err == nil {
		spec = h
		j.Port, _ = strconv.Atoi(p)
	}
	j.Name = spec
	applySSHConfig(&j)
	j.ProxyJump = ""
	applyDefaults(&j)
	return j
}

// keepAlive closes the connection when the server stops answering, so that
// a dead host fails fast instead of hanging every later step.
func (c *sshConn) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			errc <- err
		}()
		select {
		case err := <-errc:
			if err != nil {
				c.Close()
				return
			}
		case <-time.After(3 * every):
			c.Close()
			return
		case <-c.done:
			return
		}
	}
}

func (c *sshConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		c.docker.close() // idle tunnelled connections first
		// The SSH client first: the SFTP client's Close waits for its
		// reader, which a dead link blocks until the client is closed.
		err = c.client.Close()
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
		}
		c.sftpMu.Unlock()
		for i := len(c.jumps) - 1; i >= 0; i-- {
			c.jumps[i].Close()
		}
	})
	return err
}

func (c *sshConn) isRoot() bool { return c.root }

// needSudo says whether running as user needs sudo.
func (c *sshConn) needSudo(become bool, user string) bool {
	if !become {
		return false
	}
	if user == "" {
		user = "root"
	}
	return user != c.cfg.User
}

func (c *sshConn) Run(ctx context.Context, cmd string, o RunOpts) (*RunResult, error) {
	if o.Become && o.BecomeUser == "" {
		o.BecomeUser = c.cfg.BecomeUser // ansible_become_user, --become-user
	}
	if err := c.cfg.becomeError(c.root, c.needSudo(o.Become, o.BecomeUser)); err != nil {
		return nil, err
	}
	if len(o.Stdin) == 0 {
		sh, err := c.shellFor(ctx, c.needSudo(o.Become, o.BecomeUser), o.BecomeUser)
		if err != nil {
			if ctx.Err() == nil && c.closed() {
				return nil, c.lost(err)
			}
			return nil, err
		}
		if sh != nil {
			res, err := sh.run(ctx, c.cfg.Name, cmd)
			if errors.Is(err, errShellGone) && !c.closed() {
				return c.runSession(ctx, cmd, o) // it never ran
			}
			if c.broken(ctx, err) {
				return nil, c.lost(err)
			}
			return res, err
		}
	}
	return c.runSession(ctx, cmd, o)
}

// runSession runs cmd in a session of its own.
func (c *sshConn) runSession(ctx context.Context, cmd string, o RunOpts) (*RunResult, error) {
	w := c.cfg.wrapFor(c.needSudo(o.Become, o.BecomeUser), o.BecomeUser)
	p, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	defer p.end()
	p.killGroup = func(g string) { c.killGroup(g, o) }
	res, err := run(ctx, c.cfg.Name, p, w.line(cmd), o.Stdin, w)
	if c.broken(ctx, err) {
		return nil, c.lost(err)
	}
	return res, err
}

// broken tells whether err, from a command on c, means the connection
// broke. A session sees the end of its channel a moment before the
// transport's end closes c: a failed command waits for that moment.
func (c *sshConn) broken(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	select {
	case <-c.done:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

func (c *sshConn) closed() bool { return isClosed(c.done) }

// killGroup ends a cancelled command's process group from a new session:
// closing a session without a pty leaves the command running, and sshd
// ignores signal requests for root logins. It runs before Run returns, so
// a caller that closes the connection next does not orphan the command.
func (c *sshConn) killGroup(pgid string, o RunOpts) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.runSession(ctx, "kill -TERM -"+pgid+" 2>/dev/null", RunOpts{Become: o.Become, BecomeUser: o.BecomeUser})
}

// session opens an exec session, waiting for a free slot.
func (c *sshConn) session(ctx context.Context) (*sshProc, error) {
	select {
	case c.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", c.cfg.Name, ctx.Err())
	case <-c.done:
		return nil, c.lost(net.ErrClosed)
	}
	s, err := c.client.NewSession()
	if err != nil {
		<-c.sessions
		return nil, c.lost(err)
	}
	return &sshProc{s: s, root: c.root, release: func() { <-c.sessions }}, nil
}

func (c *sshConn) lost(err error) error {
	if c.closed() {
		return &lostError{fmt.Sprintf("%s: connection closed (closed, or the host stopped answering keepalives)", c.cfg.Name), err}
	}
	if errors.Is(err, io.EOF) {
		return &lostError{c.cfg.Name + ": connection lost", err}
	}
	return &lostError{fmt.Sprintf("%s: %v", c.cfg.Name, err), err}
}

// SSHEndpoint returns the port the connection reached sshd on (after
// ansible_port, ssh_config and -p) and the controller's address as the
// host sees it ("" behind a ProxyJump: the jump host's, not known here).
func (c *sshConn) SSHEndpoint() (int, string) {
	if len(c.jumps) > 0 {
		return c.cfg.Port, ""
	}
	host, _, _ := net.SplitHostPort(c.client.LocalAddr().String())
	return c.cfg.Port, host
}

// Lost reports whether the connection is gone (closed, or keepalives
// unanswered): the runtime then reports the host UNREACHABLE.
func (c *sshConn) Lost() bool { return c.closed() }

// ErrConnectionLost matches errors of commands whose connection broke:
// the host is unreachable, the command's fate unknown.
var ErrConnectionLost = errors.New("connection lost")

type lostError struct {
	msg string
	err error
}

func (e *lostError) Error() string        { return e.msg }
func (e *lostError) Unwrap() error        { return e.err }
func (e *lostError) Is(target error) bool { return target == ErrConnectionLost }

// dialStdio runs cmd (with sudo if become) and returns its stdio as a conn.
func (c *sshConn) dialStdio(ctx context.Context, cmd string, become bool) (net.Conn, error) {
	w := c.cfg.wrapFor(c.needSudo(become, ""), "")
	p, err := c.session(ctx) // held until the stream is closed
	if err != nil {
		return nil, err
	}
	p.killGroup = func(g string) { c.killGroup(g, RunOpts{Become: become}) }
	conn, err := stream(ctx, c.cfg.Name, p, w.line("exec "+cmd), w)
	if err != nil {
		p.Kill("")
		return nil, err
	}
	return conn, nil
}

func (c *sshConn) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	nc, err := c.client.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot open unix socket %s over SSH as %s: %w (does it exist, may this user open it, and does sshd allow AllowStreamLocalForwarding?)",
			c.cfg.Name, path, c.cfg.User, err)
	}
	return nc, nil
}

func (c *sshConn) Docker(ctx context.Context, become bool) (client.APIClient, error) {
	return c.docker.get(ctx, c, become)
}

// sshProc adapts an SSH session to process.
type sshProc struct {
	s         *ssh.Session
	release   func() // frees the session slot
	killGroup func(pgid string)
	root      bool
	once      sync.Once
}

func (p *sshProc) StdinPipe() (io.WriteCloser, error) { return p.s.StdinPipe() }
func (p *sshProc) SetOutput(o, e io.Writer)           { p.s.Stdout, p.s.Stderr = o, e }
func (p *sshProc) Start(line string) error            { return p.s.Start(line) }
func (p *sshProc) Wait() error                        { return p.s.Wait() }

// end closes the session and frees its slot.
func (p *sshProc) end() {
	p.s.Close()
	p.once.Do(p.release)
}

func (p *sshProc) Kill(group string) {
	if !p.root {
		p.s.Signal(ssh.SIGTERM) // OpenSSH 7.9+; sshd refuses it for root logins
	}
	p.end() // first: killing takes a session slot of its own
	if group != "" && p.killGroup != nil {
		p.killGroup(group)
	}
}

// auth holds the keys to offer: key files first, then the agent's.
type auth struct {
	signers []ssh.Signer
	files   []string // key files in use
	notes   []string // why other keys were skipped
	agent   net.Conn
	nagent  int
}

func loadAuth(c Config) *auth {
	a := &auth{}
	files, explicit := c.KeyFiles, true
	if len(files) == 0 {
		explicit = false
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(homeDir(), ".ssh", n))
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		pem, err := os.ReadFile(expandHome(f))
		if err != nil {
			if explicit {
				a.notes = append(a.notes, fmt.Sprintf("key %s: %v", f, err))
			}
			continue
		}
		s, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				a.notes = append(a.notes, fmt.Sprintf("key %s is encrypted (load it into ssh-agent)", f))
			} else {
				a.notes = append(a.notes, fmt.Sprintf("key %s: %v", f, err))
			}
			continue
		}
		if k := string(s.PublicKey().Marshal()); !seen[k] {
			seen[k] = true
			a.signers = append(a.signers, s)
			a.files = append(a.files, f)
		}
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			a.notes = append(a.notes, fmt.Sprintf("ssh-agent at %s: %v", sock, err))
			return a
		}
		a.agent = conn
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			a.notes = append(a.notes, fmt.Sprintf("ssh-agent: %v", err))
		}
		for _, s := range signers {
			if k := string(s.PublicKey().Marshal()); !seen[k] {
				seen[k] = true
				a.signers = append(a.signers, s)
				a.nagent++
			}
		}
	}
	return a
}

// methods lists the auth methods. x/crypto tries each method name once, so
// all keys go into one publickey method.
func (a *auth) methods(password string) []ssh.AuthMethod {
	var m []ssh.AuthMethod
	if len(a.signers) > 0 {
		m = append(m, ssh.PublicKeys(a.signers...))
	}
	if password != "" {
		m = append(m, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
				ans := make([]string, len(qs))
				for i := range ans {
					ans[i] = password
				}
				return ans, nil
			}))
	}
	return m
}

// describe says what was tried, without secrets.
func (a *auth) describe(password bool) string {
	var parts []string
	if len(a.files) > 0 {
		parts = append(parts, "keys "+strings.Join(a.files, ", "))
	}
	if a.agent != nil {
		parts = append(parts, fmt.Sprintf("%d more from ssh-agent", a.nagent))
	}
	if password {
		parts = append(parts, "a password")
	}
	if len(parts) == 0 {
		parts = append(parts, "no keys found: no key files and no SSH_AUTH_SOCK")
	}
	parts = append(parts, a.notes...)
	return "tried " + strings.Join(parts, "; ")
}

func (a *auth) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}
