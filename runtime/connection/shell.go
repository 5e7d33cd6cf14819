package connection

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// shell is a long-lived `sh` on the host that runs commands one at a time,
// each in a subshell with stdin from /dev/null. A command there costs a few
// bytes each way instead of a new SSH session (a channel, an sshd fork, the
// login shell, sh): that was most of a no-op step's time. Output is framed
// by markers with a random token on stdout and stderr; the exit status
// follows the closing stdout marker. The command text reaches the shell as
// one quoted word for eval, so no command can unbalance the framing.
//
// Commands that need stdin, and commands that arrive while the shell is
// busy, get their own session as before.
type shell struct {
	mu    sync.Mutex // held while a command runs
	p     *sshProc
	in    io.WriteCloser
	group string // the shell's process group, killed on cancel
	out   *frames
	errs  *frames
	ended chan struct{} // closed once the shell has exited
	dead  bool          // killed (under mu): the exit may not have arrived yet
}

// errShellGone says a command never reached the shell: it may be run
// elsewhere.
var errShellGone = errors.New("the shell is gone")

// shellKey names the shell for a become mode: sudo runs the whole shell as
// the target user.
func shellKey(sudo bool, user string) string {
	if !sudo {
		return ""
	}
	if user == "" {
		user = "root"
	}
	return "sudo:" + user
}

// shellFor returns an idle running shell for the mode, starting one if there
// is none, locked for the caller; nil if the mode's shell is busy.
func (c *sshConn) shellFor(ctx context.Context, sudo bool, user string) (*shell, error) {
	key := shellKey(sudo, user)
	c.shellMu.Lock()
	defer c.shellMu.Unlock()
	if sh := c.shells[key]; sh != nil {
		if !sh.mu.TryLock() {
			return nil, nil
		}
		if !sh.dead && !sh.done() {
			return sh, nil
		}
		sh.mu.Unlock()
		delete(c.shells, key)
	}
	sh, err := c.startShell(ctx, sudo, user)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	if c.shells == nil {
		c.shells = map[string]*shell{}
	}
	c.shells[key] = sh
	return sh, nil
}

func (c *sshConn) startShell(ctx context.Context, sudo bool, user string) (*shell, error) {
	w := c.cfg.wrapFor(sudo, user)
	p, err := c.session(ctx) // held while the shell lives
	if err != nil {
		return nil, err
	}
	p.killGroup = func(g string) { c.killGroup(g, RunOpts{Become: sudo, BecomeUser: user}) }
	sh := &shell{p: p, out: newFrames(), errs: newFrames(), ended: make(chan struct{})}
	// Without sudo the login shell execs sh, which reads the marker code
	// from stdin like every command after it: one exec less than sh -c.
	// sudo may read a password from stdin first, so there the marker code
	// comes with the command line.
	line := "exec sh -s"
	if sudo {
		line = w.line("exec sh")
	}
	out, errs, in, err := start(p, line, sh.out, w)
	if err != nil {
		p.end()
		return nil, fmt.Errorf("%s: %w", c.cfg.Name, err)
	}
	if !sudo {
		if _, err := io.WriteString(in, w.prelude()); err != nil {
			p.end()
			return nil, fmt.Errorf("%s: %w", c.cfg.Name, err)
		}
	}
	errs.mu.Lock()
	errs.tee = sh.errs
	errs.mu.Unlock()
	waitc := make(chan error, 1)
	go func() {
		waitc <- p.Wait()
		close(sh.ended)
		sh.out.wake()
		sh.errs.wake()
	}()
	if _, waited, err := awaitStart(ctx, c.cfg.Name, p, out, errs, in, waitc, w); err != nil {
		p.end()
		return nil, err
	} else if waited {
		p.end()
		return nil, fmt.Errorf("%s: the shell ended at once: %s", c.cfg.Name, bytes.TrimSpace(errs.text()))
	}
	sh.in, sh.group = in, out.group()
	return sh, nil
}

func (sh *shell) done() bool { return isClosed(sh.ended) }

// isClosed reports, without waiting, whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// kill ends the shell and whatever it runs; the caller holds mu.
func (sh *shell) kill() {
	sh.dead = true
	if sh.done() {
		sh.p.end()
		return
	}
	sh.p.Kill(sh.group)
}

// run runs cmd and unlocks the shell. An error means the command's fate is
// unknown; the shell is then killed and a later run starts another.
func (sh *shell) run(ctx context.Context, host, cmd string) (*RunResult, error) {
	defer sh.mu.Unlock()
	tok := "swarmrun-" + randomHex(12)
	script := "printf '%s{\\n' " + tok + "; printf '%s{\\n' " + tok + " >&2; ( eval " + ShellQuote(cmd) +
		" ) </dev/null; printf '\\n%s} %d\\n' " + tok + " $?; printf '\\n%s}\\n' " + tok + " >&2\n"
	if _, err := io.WriteString(sh.in, script); err != nil {
		sh.kill()
		return nil, errShellGone
	}
	stdout, status, err := sh.out.take(ctx, sh.ended, tok)
	if err == nil {
		var stderr []byte
		if stderr, _, err = sh.errs.take(ctx, sh.ended, tok); err == nil {
			code, cerr := strconv.Atoi(status)
			if cerr != nil {
				sh.kill()
				return nil, fmt.Errorf("%s: bad exit status %q from the shell", host, status)
			}
			return &RunResult{Stdout: stdout, Stderr: stderr, ExitCode: code}, nil
		}
	}
	sh.kill()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: command stopped: %w", host, ctx.Err())
	}
	return nil, fmt.Errorf("%s: session ended without an exit status (connection lost or command killed)", host)
}

// frames collects one output stream of a shell and cuts framed commands'
// output out of it.
type frames struct {
	mu   sync.Mutex
	buf  []byte
	woke chan struct{}
}

func newFrames() *frames { return &frames{woke: make(chan struct{}, 1)} }

func (f *frames) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.buf = append(f.buf, p...)
	f.mu.Unlock()
	f.wake()
	return len(p), nil
}

func (f *frames) wake() {
	select {
	case f.woke <- struct{}{}:
	default:
	}
}

// take waits for tok's frame and returns what is between its markers and
// the word after the closing marker (the exit status on stdout). Anything before the frame
// (late output of an earlier command) is dropped with it.
func (f *frames) take(ctx context.Context, ended <-chan struct{}, tok string) (body []byte, word string, err error) {
	open, shut := []byte(tok+"{\n"), []byte("\n"+tok+"}")
	over := false
	for {
		f.mu.Lock()
		if i := bytes.Index(f.buf, open); i >= 0 {
			rest := f.buf[i+len(open):]
			if j := bytes.Index(rest, shut); j >= 0 {
				tail := rest[j+len(shut):]
				if k := bytes.IndexByte(tail, '\n'); k >= 0 {
					body = append([]byte(nil), rest[:j]...)
					word = string(bytes.TrimPrefix(tail[:k], []byte(" ")))
					f.buf = append(f.buf[:0], tail[k+1:]...)
					f.mu.Unlock()
					return body, word, nil
				}
			}
		}
		f.mu.Unlock()
		if over {
			return nil, "", io.ErrUnexpectedEOF
		}
		select {
		case <-f.woke:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-ended:
			over = true // look once more: Wait returns after the last output is written
		}
	}
}
