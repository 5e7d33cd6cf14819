package connection

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/docker/docker/client"
)

// localConn runs everything on this machine (ansible_connection=local).
type localConn struct {
	cfg    Config
	user   string // who we are
	docker dockerClients
}

func dialLocal(c Config) *localConn {
	name := strconv.Itoa(os.Geteuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if c.Name == "" {
		c.Name = "localhost"
	}
	return &localConn{cfg: c, user: name}
}

func (l *localConn) isRoot() bool { return os.Geteuid() == 0 }

func (l *localConn) needSudo(become bool, user string) bool {
	if !become {
		return false
	}
	if user == "" {
		user = "root"
	}
	return user != l.user
}

func (l *localConn) Run(ctx context.Context, cmd string, o RunOpts) (*RunResult, error) {
	if o.Become && o.BecomeUser == "" {
		o.BecomeUser = l.cfg.BecomeUser // ansible_become_user, --become-user
	}
	sudo := l.needSudo(o.Become, o.BecomeUser)
	if err := l.cfg.becomeError(l.user == "root", sudo); err != nil {
		return nil, err
	}
	w := l.cfg.wrapFor(sudo, o.BecomeUser)
	return run(ctx, l.cfg.Name, newLocalProc(), w.line(cmd), o.Stdin, w)
}

func (l *localConn) dialStdio(ctx context.Context, cmd string, become bool) (net.Conn, error) {
	w := l.cfg.wrapFor(l.needSudo(become, ""), "")
	return stream(ctx, l.cfg.Name, newLocalProc(), w.line("exec "+cmd), w)
}

func (l *localConn) fileErr(err error) error { return fmt.Errorf("%s: %w", l.cfg.Name, err) }

func (l *localConn) ReadFile(ctx context.Context, p string, become bool) ([]byte, error) {
	if l.needSudo(become, "") {
		return shellRead(ctx, l, l.cfg.Name, p, become)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, l.fileErr(err)
	}
	return b, nil
}

func (l *localConn) Stat(ctx context.Context, p string, become bool) (*FileInfo, error) {
	if l.needSudo(become, "") {
		return shellStat(ctx, l, l.cfg.Name, p, become)
	}
	st, err := os.Lstat(p)
	if err != nil {
		return nil, l.fileErr(err)
	}
	fi := &FileInfo{Mode: st.Mode(), Size: st.Size(), ModTime: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fi.Owner = strconv.FormatUint(uint64(sys.Uid), 10)
		fi.Group = strconv.FormatUint(uint64(sys.Gid), 10)
		if u, err := user.LookupId(fi.Owner); err == nil {
			fi.Owner = u.Username
		}
		if g, err := user.LookupGroupId(fi.Group); err == nil {
			fi.Group = g.Name
		}
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		if fi.LinkTarget, err = os.Readlink(p); err != nil {
			return nil, l.fileErr(err)
		}
	}
	return fi, nil
}

func (l *localConn) WriteFile(ctx context.Context, p string, data []byte, o WriteOpts) error {
	if l.needSudo(o.Become, "") {
		return shellWrite(ctx, l, l.cfg.Name, p, data, o)
	}
	p, err := followLinks(p, os.Lstat, os.Readlink)
	if err != nil {
		return l.fileErr(err)
	}
	const keep = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	mode := o.Mode & keep
	uid, gid := -1, -1
	if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() {
		if mode == 0 {
			mode = st.Mode() & keep
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && (int(sys.Uid) != os.Geteuid() || int(sys.Gid) != os.Getegid()) {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	} else if err == nil && st.IsDir() {
		return l.fileErr(&fs.PathError{Op: "write", Path: p, Err: errors.New("is a directory")})
	}
	if mode == 0 {
		mode = 0o644
	}
	if o.Owner != "" {
		if uid, err = localID(o.Owner, false); err != nil {
			return l.fileErr(err)
		}
	}
	if o.Group != "" {
		if gid, err = localID(o.Group, true); err != nil {
			return l.fileErr(err)
		}
	}
	if err := writeLocal(p, bytes.NewReader(data), mode, uid, gid); err != nil {
		return l.fileErr(err)
	}
	return nil
}

func localID(name string, group bool) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	id := ""
	if group {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, err
		}
		id = g.Gid
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, err
		}
		id = u.Uid
	}
	return strconv.Atoi(id)
}

func (l *localConn) Fetch(ctx context.Context, remote, local string, become bool) error {
	if l.needSudo(become, "") {
		data, err := shellRead(ctx, l, l.cfg.Name, remote, become)
		if err != nil {
			return err
		}
		return l.fileErr(writeLocal(local, bytes.NewReader(data), 0o600, -1, -1))
	}
	f, err := os.Open(remote)
	if err != nil {
		return l.fileErr(err)
	}
	defer f.Close()
	if err := writeLocal(local, f, 0o600, -1, -1); err != nil {
		return l.fileErr(err)
	}
	return nil
}

func (l *localConn) DialUnix(ctx context.Context, p string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		return nil, l.fileErr(err)
	}
	return c, nil
}

func (l *localConn) Docker(ctx context.Context, become bool) (client.APIClient, error) {
	return l.docker.get(ctx, l, become)
}

func (l *localConn) Close() error { l.docker.close(); return nil }

// localProc runs a shell line in its own process group, so that
// cancellation reaches the whole command.
type localProc struct{ cmd *exec.Cmd }

func newLocalProc() *localProc {
	cmd := exec.Command("sh", "-c", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second // do not wait forever for orphans holding stdout
	return &localProc{cmd: cmd}
}

func (p *localProc) StdinPipe() (io.WriteCloser, error) { return p.cmd.StdinPipe() }
func (p *localProc) SetOutput(o, e io.Writer)           { p.cmd.Stdout, p.cmd.Stderr = o, e }
func (p *localProc) Start(line string) error {
	p.cmd.Args[2] = line
	return p.cmd.Start()
}
func (p *localProc) Wait() error { return p.cmd.Wait() }

// Kill signals the process group the command was started in.
func (p *localProc) Kill(string) {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
}
