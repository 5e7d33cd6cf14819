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
	Kill() // signal the command and drop it
}

// sudo describes a become: the command runs as user through sudo, which
// prints prompt when it wants the password; the command itself first prints
// marker on stdout, so we know when sudo is done with stdin.
type sudo struct {
	user, password string
	prompt, marker string
}

func newSudo(user, password string) *sudo {
	if user == "" {
		user = "root"
	}
	id := randomHex(8)
	return &sudo{
		user:     user,
		password: password,
		prompt:   "[swarmrun-sudo-" + id + "] password: ",
		marker:   "swarmrun-become-" + id,
	}
}

// line wraps cmd in sudo.
func (s *sudo) line(cmd string) string {
	return "sudo -H -S -p " + shellQuote(s.prompt) + " -u " + shellQuote(s.user) +
		" -- sh -c " + shellQuote("echo "+s.marker+"\n"+cmd)
}

// redact removes the password from text that may end up in an error.
func (s *sudo) redact(text string) string {
	if s == nil || s.password == "" {
		return text
	}
	return strings.ReplaceAll(text, s.password, "********")
}

// ErrBecomePassword says sudo wants a password that was not given.
var ErrBecomePassword = errors.New("sudo needs a password (use --ask-become-pass or SWARMRUN_BECOME_PASSWORD)")

// run starts line on p, handles sudo's password prompt, feeds stdin and
// collects the output. host names the host in errors.
func run(ctx context.Context, host string, p process, line string, stdin []byte, s *sudo) (*RunResult, error) {
	var stdout bytes.Buffer
	out, errs, stdinW, err := start(p, line, &stdout, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- p.Wait() }()
	werr, waited, err := awaitStart(ctx, host, p, out, errs, stdinW, waitc, s)
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
			p.Kill()
			return nil, fmt.Errorf("%s: command stopped: %w", host, ctx.Err())
		}
	}
	code, err := exitCode(werr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", host, s.redact(err.Error()))
	}
	return &RunResult{Stdout: stdout.Bytes(), Stderr: errs.text(), ExitCode: code}, nil
}

// start wires p's output through the become filters and starts it.
func start(p process, line string, stdout io.Writer, s *sudo) (*outFilter, *errFilter, io.WriteCloser, error) {
	out := &outFilter{dst: stdout, found: make(chan struct{})}
	errs := &errFilter{prompted: make(chan struct{}, 4)}
	if s != nil {
		out.marker = []byte(s.marker + "\n")
		errs.prompt = []byte(s.prompt)
	} else {
		close(out.found)
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
	stdinW io.Writer, waitc <-chan error, s *sudo) (werr error, waited bool, err error) {
	prompts := 0
	for {
		select {
		case <-out.found:
			return nil, false, nil
		case <-errs.prompted:
			prompts++
			switch {
			case s.password == "":
				p.Kill()
				return nil, false, fmt.Errorf("%s: %w", host, ErrBecomePassword)
			case prompts > 1:
				p.Kill()
				return nil, false, fmt.Errorf("%s: sudo refused the become password for %s (check ansible_become_password)", host, s.user)
			}
			io.WriteString(stdinW, s.password+"\n")
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
				if werr != nil {
					msg = werr.Error()
				} else {
					msg = "sudo ended without running the command"
				}
			}
			return nil, true, fmt.Errorf("%s: become (sudo -u %s) failed: %s", host, s.user, s.redact(msg))
		case <-ctx.Done():
			p.Kill()
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

// outFilter passes stdout through once the become marker line was seen.
type outFilter struct {
	mu     sync.Mutex
	dst    io.Writer
	marker []byte // nil once found
	pre    []byte
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
	if i := bytes.Index(f.pre, f.marker); i >= 0 {
		rest := f.pre[i+len(f.marker):]
		f.marker, f.pre = nil, nil
		close(f.found)
		if _, err := f.dst.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// errFilter collects stderr and reports each sudo prompt in it.
type errFilter struct {
	mu       sync.Mutex
	buf      []byte
	prompt   []byte
	scanned  int // prompts before this offset are counted
	prompted chan struct{}
}

func (f *errFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
func stream(ctx context.Context, host string, p process, line string, s *sudo) (net.Conn, error) {
	pr, pw := io.Pipe()
	out, errs, stdinW, err := start(p, line, pw, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- p.Wait() }()
	if _, waited, err := awaitStart(ctx, host, p, out, errs, stdinW, waitc, s); err != nil {
		return nil, err
	} else if waited {
		return nil, fmt.Errorf("%s: %q ended at once: %s", host, line, strings.TrimSpace(string(errs.text())))
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
	return &stdioConn{r: pr, w: stdinW, kill: p.Kill}, nil
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

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
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
