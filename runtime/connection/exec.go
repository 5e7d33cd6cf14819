package connection

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// process is one running command: an SSH session or a local process.
type process interface {
	StdinPipe() (io.WriteCloser, error)
	SetOutput(stdout, stderr io.Writer)
	Start(line string) error // line is a shell command line
	Wait() error
	Kill(group string) // signal the command (and its process group, if known) and drop it
}

// wrap says how a command is started. Its first line of output is a marker
// with its process group, so that cancelling can kill the whole group (sshd
// does not deliver signals to root sessions). With become it runs through
// sudo, which prints prompt when it wants the password; the marker also says
// when sudo is done reading stdin.
type wrap struct {
	marker string
	sudo   bool // become: through sudo, or su when su is set
	su     bool // become_method su (only from a root login: su asks no password then)
	user   string
	pass   string
	prompt string
}

// wrapFor is newWrap with the become method of c.
func (c Config) wrapFor(sudo bool, user string) *wrap {
	w := newWrap(sudo, user, c.BecomePassword)
	w.su = c.BecomeMethod == "su"
	return w
}

// becomeError says why a command that needs become (needed) cannot run
// with c's become method; root is whether the login is root.
func (c Config) becomeError(root, needed bool) error {
	if !needed {
		return nil
	}
	switch c.BecomeMethod {
	case "", "sudo":
		return nil
	case "su":
		if root {
			return nil
		}
		return fmt.Errorf("%s: %w", c.Name, ErrSuNeedsRoot)
	}
	return fmt.Errorf("%s: become method %q is not supported (sudo or su)", c.Name, c.BecomeMethod)
}

// ErrSuNeedsRoot: su asks for the target user's password on a terminal,
// which swarmrun does not drive, so su is only used from a root login.
var ErrSuNeedsRoot = errors.New("become_method su works only when logging in as root (su then asks no password); use sudo")

func newWrap(sudo bool, user, password string) *wrap {
	if user == "" {
		user = "root"
	}
	id := randomHex(8)
	return &wrap{
		marker: "swarmrun-started-" + id,
		sudo:   sudo,
		user:   user,
		pass:   password,
		prompt: "[swarmrun-sudo-" + id + "] password: ",
	}
}

// prelude is the shell code that prints the marker line.
func (w *wrap) prelude() string {
	return `read -r _ _ _ _ swarmrun_pgid _ 2>/dev/null </proc/$$/stat; echo ` + w.marker +
		` $swarmrun_pgid; unset swarmrun_pgid` + "\n"
}

// line turns cmd into the shell line to start.
func (w *wrap) line(cmd string) string {
	script := w.prelude() + cmd
	if !w.sudo {
		return "exec sh -c " + ShellQuote(script)
	}
	if w.su {
		return "exec su -s /bin/sh -c " + ShellQuote(script) + " " + ShellQuote(w.user)
	}
	return "sudo -H -S -p " + ShellQuote(w.prompt) + " -u " + ShellQuote(w.user) +
		" -- sh -c " + ShellQuote(script)
}

// redact removes the password from text that may end up in an error.
func (w *wrap) redact(text string) string {
	if w.pass == "" {
		return text
	}
	return strings.ReplaceAll(text, w.pass, "********")
}

// BecomeStartTimeout bounds how long sudo may take to start a command
// (prompts included).
var BecomeStartTimeout = 60 * time.Second

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// ErrBecomePassword says sudo wants a password that was not given.
var ErrBecomePassword = errors.New("sudo needs a password: give it with -K (--ask-become-pass), SWARMRUN_BECOME_PASSWORD or ansible_become_password")

// run starts line on p, handles sudo's password prompt, feeds stdin and
// collects the output. host names the host in errors.
func run(ctx context.Context, host string, p process, line string, stdin []byte, w *wrap) (*RunResult, error) {
	var stdout bytes.Buffer
	out, errs, stdinW, err := start(p, line, &stdout, w)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- p.Wait() }()
	werr, waited, err := awaitStart(ctx, host, p, out, errs, stdinW, waitc, w)
	if err != nil {
		return nil, err
	}
	go func() {
		if len(stdin) > 0 {
			stdinW.Write(stdin) // the command may exit without reading: not our error
		}
		stdinW.Close()
	}()
	if !waited {
		select {
		case werr = <-waitc:
		case <-ctx.Done():
			p.Kill(out.group())
			return nil, fmt.Errorf("%s: command stopped: %w", host, ctx.Err())
		}
	}
	code, err := exitCode(werr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", host, w.redact(err.Error()))
	}
	return &RunResult{Stdout: stdout.Bytes(), Stderr: errs.text(), ExitCode: code}, nil
}

// start wires p's output through the become filters and starts it.
func start(p process, line string, stdout io.Writer, w *wrap) (*outFilter, *errFilter, io.WriteCloser, error) {
	out := &outFilter{dst: stdout, marker: []byte(w.marker + " "), found: make(chan struct{})}
	errs := &errFilter{prompted: make(chan struct{}, 4)}
	if w.sudo {
		errs.prompt = []byte(w.prompt)
	}
	stdinW, err := p.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	p.SetOutput(out, errs)
	if err := p.Start(line); err != nil {
		return nil, nil, nil, err
	}
	return out, errs, stdinW, nil
}

// awaitStart answers sudo's prompt until the command itself runs. If the
// process ends first, waited is true and werr is its exit.
func awaitStart(ctx context.Context, host string, p process, out *outFilter, errs *errFilter,
	stdinW io.Writer, waitc <-chan error, w *wrap) (werr error, waited bool, err error) {
	prompts := 0
	var stuck <-chan time.Time // nil (never) without sudo
	if w.sudo {
		t := time.NewTimer(BecomeStartTimeout)
		defer t.Stop()
		stuck = t.C
	}
	for {
		select {
		case <-stuck:
			// sudo sits at a prompt it was not told to use (PAM, Kerberos,
			// a second factor): without a bound the run would hang.
			p.Kill("")
			return nil, false, fmt.Errorf("%s: become (sudo -u %s) did not start the command within %v; it may wait at a prompt swarmrun cannot answer: %q",
				host, w.user, BecomeStartTimeout, w.redact(lastLine(errs.text())))
		case <-out.found:
			return nil, false, nil
		case <-errs.prompted:
			prompts++
			switch {
			case w.pass == "":
				p.Kill("")
				return nil, false, fmt.Errorf("%s: %w", host, ErrBecomePassword)
			case prompts > 1:
				p.Kill("")
				// sudo asks for the login user's password, whoever the
				// target user is.
				return nil, false, fmt.Errorf("%s: sudo refused the become password (the login user's own password; check -K, SWARMRUN_BECOME_PASSWORD or ansible_become_password)", host)
			}
			io.WriteString(stdinW, w.pass+"\n")
		case werr := <-waitc:
			select {
			case <-out.found: // a quick command: it ran
				return werr, true, nil
			default:
			}
			msg := strings.TrimSpace(string(errs.text()))
			if strings.Contains(msg, "password is required") {
				return nil, true, fmt.Errorf("%s: %w", host, ErrBecomePassword)
			}
			if msg == "" {
				msg = fmt.Sprint(werr)
			}
			if !w.sudo {
				return nil, true, fmt.Errorf("%s: the command did not start: %s", host, msg)
			}
			how := "sudo -u"
			if w.su {
				how = "su"
			}
			return nil, true, fmt.Errorf("%s: become (%s %s) failed: %s", host, how, w.user, w.redact(msg))
		case <-ctx.Done():
			// The marker may be on its way: without it the command could
			// outlive the session.
			select {
			case <-out.found:
			case <-time.After(time.Second):
			}
			p.Kill(out.group())
			return nil, false, fmt.Errorf("%s: command stopped: %w", host, ctx.Err())
		}
	}
}

// exitCode turns the result of Wait into an exit status; an error means the
// command's fate is unknown (session lost).
func exitCode(err error) (int, error) {
	var se *ssh.ExitError
	var ee *exec.ExitError
	var me *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &se):
		return se.ExitStatus(), nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	case errors.As(err, &me):
		return 0, fmt.Errorf("session ended without an exit status (connection lost or command killed)")
	}
	return 0, err
}

// outFilter passes stdout through once the marker line was seen, and
// keeps the process group it reports.
type outFilter struct {
	mu     sync.Mutex
	dst    io.Writer
	marker []byte // nil once found
	pre    []byte
	pgid   string
	found  chan struct{}
}

func (f *outFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.marker == nil {
		if _, err := f.dst.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	f.pre = append(f.pre, p...)
	i := bytes.Index(f.pre, f.marker)
	if i < 0 {
		return len(p), nil
	}
	line, rest, ok := bytes.Cut(f.pre[i+len(f.marker):], []byte("\n"))
	if !ok {
		return len(p), nil
	}
	f.pgid = string(line)
	f.marker, f.pre = nil, nil
	close(f.found)
	if _, err := f.dst.Write(rest); err != nil {
		return 0, err
	}
	return len(p), nil
}

// group is the command's process group, or "" if not known.
func (f *outFilter) group() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, err := strconv.Atoi(f.pgid); err != nil || n <= 1 {
		return ""
	}
	return f.pgid
}

// errFilter collects stderr and reports each sudo prompt in it.
type errFilter struct {
	tee      io.Writer // also gets everything, if set
	mu       sync.Mutex
	buf      []byte
	prompt   []byte
	scanned  int // prompts before this offset are counted
	prompted chan struct{}
}

func (f *errFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tee != nil {
		f.tee.Write(p)
	}
	f.buf = append(f.buf, p...)
	if len(f.prompt) == 0 {
		return len(p), nil
	}
	for {
		i := bytes.Index(f.buf[f.scanned:], f.prompt)
		if i < 0 {
			break
		}
		f.scanned += i + len(f.prompt)
		select {
		case f.prompted <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// text is stderr without sudo's prompts.
func (f *errFilter) text() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.prompt) == 0 {
		return append([]byte(nil), f.buf...)
	}
	return bytes.ReplaceAll(f.buf, f.prompt, nil)
}

// stream starts line and returns its stdin and stdout as a net.Conn, for
// `docker system dial-stdio`.
func stream(ctx context.Context, host string, p process, line string, w *wrap) (net.Conn, error) {
	pr, pw := io.Pipe()
	out, errs, stdinW, err := start(p, line, pw, w)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- p.Wait() }()
	if _, waited, err := awaitStart(ctx, host, p, out, errs, stdinW, waitc, w); err != nil {
		return nil, err
	} else if waited {
		return nil, fmt.Errorf("%s: the command ended at once: %s", host, strings.TrimSpace(string(errs.text())))
	}
	go func() {
		err := <-waitc
		if msg := strings.TrimSpace(string(errs.text())); msg != "" {
			err = fmt.Errorf("%s: %s", host, msg)
		}
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return &stdioConn{r: pr, w: stdinW, kill: func() { p.Kill(out.group()) }}, nil
}

// stdioConn is a net.Conn over a command's stdin and stdout.
type stdioConn struct {
	r    *io.PipeReader
	w    io.WriteCloser
	kill func()
	once sync.Once
}

func (c *stdioConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *stdioConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *stdioConn) Close() error {
	c.once.Do(func() {
		c.w.Close()
		c.r.Close()
		c.kill()
	})
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }

// ShellQuote quotes s for a POSIX shell. It is the one quoting function
// for shell text: modules use it through modules.Quote.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
