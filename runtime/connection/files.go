package connection

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// File operations over SSH use SFTP, except with become as a non-root user
// (SFTP cannot sudo) or when the server has no SFTP subsystem: then each
// operation is one shell command.

// sftpClient returns the connection's SFTP client, opening it on first use;
// nil without error means "no SFTP here, use the shell".
func (c *sshConn) sftpClient() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil || c.noSFTP {
		return c.sftp, nil
	}
	cl, err := sftp.NewClient(c.client)
	if err != nil {
		select {
		case <-c.done:
			return nil, c.lost(err)
		default:
		}
		if strings.Contains(err.Error(), "subsystem request failed") {
			c.noSFTP = true
			return nil, nil
		}
		return nil, c.lost(fmt.Errorf("starting SFTP: %w", err))
	}
	c.sftp = cl
	return cl, nil
}

// sftpFor returns the SFTP client for a file operation, or nil when the
// shell must do it: no SFTP here, or become to another user.
func (c *sshConn) sftpFor(become bool) (*sftp.Client, error) {
	cl, err := c.sftpClient()
	if err != nil || c.needSudo(become, "") {
		return nil, err
	}
	return cl, nil
}

// sftpFailed forgets a broken SFTP client so the next call starts another.
func (c *sshConn) sftpFailed(cl *sftp.Client, err error) {
	if !errors.Is(err, sftp.ErrSSHFxConnectionLost) && !errors.Is(err, io.EOF) {
		return
	}
	c.sftpMu.Lock()
	if c.sftp == cl {
		c.sftp = nil
		cl.Close()
	}
	c.sftpMu.Unlock()
}

func (c *sshConn) fileErr(op, p string, err error) error {
	err = &fs.PathError{Op: op, Path: p, Err: err}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%s: %w (as %s; use become)", c.cfg.Name, err, c.cfg.User)
	}
	return fmt.Errorf("%s: %w", c.cfg.Name, err)
}

func (c *sshConn) ReadFile(ctx context.Context, p string, become bool) ([]byte, error) {
	cl, err := c.sftpFor(become)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return shellRead(ctx, c, c.cfg.Name, p, become)
	}
	f, err := cl.Open(p)
	if err != nil {
		c.sftpFailed(cl, err)
		return nil, c.sftpLost(ctx, c.fileErr("read", p, err))
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		c.sftpFailed(cl, err)
		return nil, c.sftpLost(ctx, c.fileErr("read", p, err))
	}
	return buf.Bytes(), nil
}

// sftpLost marks an SFTP error as a lost connection when it is one: the
// server did not answer (no SFTP status, no file error) and the
// connection ends. The runtime then reports the host UNREACHABLE.
func (c *sshConn) sftpLost(ctx context.Context, err error) error {
	var se *sftp.StatusError
	if err == nil || errors.As(err, &se) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrConnectionLost) {
		return err
	}
	if c.broken(ctx, err) {
		return &lostError{err.Error(), err}
	}
	return err
}

func (c *sshConn) Stat(ctx context.Context, p string, become bool) (*FileInfo, error) {
	cl, err := c.sftpFor(become)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return shellStat(ctx, c, c.cfg.Name, p, become)
	}
	st, err := cl.Lstat(p)
	if err != nil {
		c.sftpFailed(cl, err)
		return nil, c.fileErr("stat", p, err)
	}
	fi := &FileInfo{Mode: st.Mode(), Size: st.Size(), ModTime: st.ModTime()}
	if fst, ok := st.Sys().(*sftp.FileStat); ok {
		if fi.Owner, fi.Group, err = c.names(ctx, fst.UID, fst.GID); err != nil {
			return nil, err
		}
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if fi.LinkTarget, err = cl.ReadLink(p); err != nil {
			return nil, c.fileErr("readlink", p, err)
		}
	}
	return fi, nil
}

func (c *sshConn) WriteFile(ctx context.Context, p string, data []byte, o WriteOpts) error {
	cl, err := c.sftpFor(o.Become)
	if err != nil {
		return err
	}
	if cl == nil {
		return shellWrite(ctx, c, c.cfg.Name, p, data, o)
	}
	if err := c.sftpWrite(ctx, cl, p, data, o); err != nil {
		c.sftpFailed(cl, err)
		return c.sftpLost(ctx, err)
	}
	return nil
}

// sftpWrite writes a temporary file next to p, gives it its owner and mode
// before any data (so the data is never more exposed than intended), syncs it
// and renames it over p. On error the temporary file is removed.
func (c *sshConn) sftpWrite(ctx context.Context, cl *sftp.Client, p string, data []byte, o WriteOpts) error {
	p, mode, uid, gid, err := c.sftpPlan(ctx, cl, p, o)
	if err != nil {
		return err
	}
	// SFTP cannot create a file with a mode: it gets the server's default
	// (0644), and whoever opens it before the chmod below could read the
	// data later. So the file is made inside a fresh directory that is
	// private (0700) before anything is put in it, then renamed out.
	tmpDir := tempName(p)
	// A write cut off by a dead connection leaves its private directory:
	// the next write of the same file removes it.
	removeStale(cl, p)
	if err := cl.Mkdir(tmpDir); err != nil {
		return c.fileErr("write", p, err)
	}
	defer cl.RemoveDirectory(tmpDir)
	if err := cl.Chmod(tmpDir, 0o700); err != nil {
		return c.fileErr("chmod", p, err)
	}
	tmp := tmpDir + "/" + path.Base(p)
	err = c.sftpWriteTemp(ctx, cl, tmp, p, data, mode, uid, gid)
	if err == nil {
		if err = cl.PosixRename(tmp, p); err != nil {
			err = c.fileErr("rename", p, err)
		}
	}
	if err != nil {
		cl.Remove(tmp)
	}
	return err
}

// sftpPlan says what sftpWrite leaves behind: the file written (a
// symlink's target), its mode and its owner and group (-1: the default),
// kept from an existing file unless o sets them.
func (c *sshConn) sftpPlan(ctx context.Context, cl *sftp.Client, p string, o WriteOpts) (_ string, mode fs.FileMode, uid, gid int, err error) {
	const keep = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	mode, uid, gid = o.Mode&keep, -1, -1
	if p, err = followLinks(p, cl.Lstat, cl.ReadLink); err != nil {
		return p, 0, 0, 0, c.fileErr("write", p, err)
	}
	old, err := cl.Lstat(p)
	switch {
	case err == nil && old.Mode().IsRegular():
		if mode == 0 {
			mode = old.Mode() & keep
		}
		if st, ok := old.Sys().(*sftp.FileStat); ok {
			uid, gid = int(st.UID), int(st.GID)
		}
	case err == nil && old.IsDir():
		return p, 0, 0, 0, c.fileErr("write", p, errors.New("is a directory"))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return p, 0, 0, 0, c.fileErr("write", p, err)
	}
	if mode == 0 {
		mode = 0o644
	}
	if o.Owner != "" {
		if uid, err = c.userID(ctx, o.Owner); err != nil {
			return p, 0, 0, 0, err
		}
	}
	if o.Group != "" {
		if gid, err = c.groupID(ctx, o.Group); err != nil {
			return p, 0, 0, 0, err
		}
	}
	return p, mode, uid, gid, nil
}

// sftpWriteTemp creates tmp (for the file p), gives it its owner, then its
// mode, then the data, and syncs and closes it.
func (c *sshConn) sftpWriteTemp(ctx context.Context, cl *sftp.Client, tmp, p string, data []byte, mode fs.FileMode, uid, gid int) error {
	f, err := cl.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return c.fileErr("write", p, err)
	}
	if testHookTempCreated != nil {
		testHookTempCreated(tmp)
	}
	defer f.Close() // a second Close after the one below is harmless
	if uid >= 0 || gid >= 0 {
		if uid < 0 || gid < 0 { // SFTP sets both: fill in the temp file's own
			st, err := f.Stat()
			if err != nil {
				return c.fileErr("write", p, err)
			}
			if fst, ok := st.Sys().(*sftp.FileStat); ok {
				uid, gid = cmp(uid, int(fst.UID)), cmp(gid, int(fst.GID))
			}
		}
		// chown before chmod: chown clears setuid bits.
		if err := f.Chown(uid, gid); err != nil {
			return c.fileErr("chown", p, err)
		}
	}
	if err := f.Chmod(mode); err != nil {
		return c.fileErr("chmod", p, err)
	}
	if _, err := f.Write(data); err != nil {
		return c.fileErr("write", p, c.noSpace(ctx, p, len(data), err))
	}
	return c.sftpSyncClose(ctx, f, tmp, p)
}

// sftpSyncClose syncs and closes f; without fsync@openssh.com the shell
// syncs it.
func (c *sshConn) sftpSyncClose(ctx context.Context, f *sftp.File, tmp, p string) error {
	synced := true
	if err := f.Sync(); err != nil {
		var se *sftp.StatusError
		if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxOpUnsupported {
			return c.fileErr("sync", p, err)
		}
		synced = false
	}
	if err := f.Close(); err != nil {
		return c.fileErr("write", p, err)
	}
	if synced {
		return nil
	}
	res, err := c.Run(ctx, "sync -- "+ShellQuote(tmp)+" 2>/dev/null || sync", RunOpts{})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return c.fileErr("sync", p, errors.New(strings.TrimSpace(string(res.Stderr))))
	}
	return nil
}

// noSpace explains a failed SFTP write when the file system is full:
// SFTP v3 reports only "Failure" (it has no code for ENOSPC).
func (c *sshConn) noSpace(ctx context.Context, p string, need int, err error) error {
	res, rerr := c.Run(ctx, "df -Pk -- "+ShellQuote(path.Dir(p))+" | awk 'NR==2 {print $4}'", RunOpts{})
	if rerr != nil || res.ExitCode != 0 {
		return err
	}
	kb, perr := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if perr != nil || kb*1024 >= need {
		return err
	}
	return fmt.Errorf("no space left on device: %d KiB free in %s, %d bytes to write (%w)", kb, path.Dir(p), need, err)
}

// testHookTempCreated lets a test look at the temporary file as created.
var testHookTempCreated func(tmp string)

// followLinks resolves p if it is a symlink (a chain of them, up to 40
// like the kernel), so a write goes to the target and keeps the link, as
// Ansible does (the shell path does the same with readlink -f). lstat
// and readlink are the SFTP client's or the local machine's.
func followLinks(p string, lstat func(string) (fs.FileInfo, error), readlink func(string) (string, error)) (string, error) {
	for range 40 {
		fi, err := lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		target, err := readlink(p)
		if err != nil {
			return p, err
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = target
	}
	return p, errors.New("too many levels of symbolic links")
}

func cmp(a, b int) int {
	if a >= 0 {
		return a
	}
	return b
}

func (c *sshConn) Fetch(ctx context.Context, remote, local string, become bool) error {
	cl, err := c.sftpFor(become)
	if err != nil {
		return err
	}
	if cl == nil {
		data, err := shellRead(ctx, c, c.cfg.Name, remote, become)
		if err != nil {
			return err
		}
		return writeLocal(local, bytes.NewReader(data), 0o600, -1, -1)
	}
	f, err := cl.Open(remote)
	if err != nil {
		c.sftpFailed(cl, err)
		return c.fileErr("fetch", remote, err)
	}
	defer f.Close()
	if err := writeLocal(local, f, 0o600, -1, -1); err != nil {
		return fmt.Errorf("%s: fetch %s: %w", c.cfg.Name, remote, err)
	}
	return nil
}

// tempName is the temporary file WriteFile uses for p.
func tempName(p string) string { return tempPrefix(p) + randomHex(4) }

func tempPrefix(p string) string {
	dir, base := path.Split(p)
	if len(base) > 200 {
		base = base[:200]
	}
	return dir + "." + base + ".swarmrun-"
}

// removeStale removes what earlier writes of p left (see sftpWrite).
func removeStale(cl *sftp.Client, p string) {
	prefix := tempPrefix(p)
	entries, err := cl.ReadDir(path.Dir(p))
	if err != nil {
		return
	}
	for _, e := range entries {
		if full := path.Join(path.Dir(p), e.Name()); strings.HasPrefix(full, prefix) {
			cl.RemoveAll(full)
		}
	}
}

// writeLocal replaces path atomically with r's content.
func writeLocal(p string, r io.Reader, mode fs.FileMode, uid, gid int) (err error) {
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	if len(base) > 200 {
		base = base[:200]
	}
	f, err := os.CreateTemp(dir, "."+base+".swarmrun-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return err
		}
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// runner runs shell commands; both connections are runners.
type runner interface {
	Run(ctx context.Context, cmd string, o RunOpts) (*RunResult, error)
}

// exitMissing is the exit status the shell scripts use for "no such file".
const exitMissing = 44

const missingCheck = `[ -e "$p" ] || [ -L "$p" ] || exit 44` + "\n"

func shellRead(ctx context.Context, r runner, host, p string, become bool) ([]byte, error) {
	res, err := r.Run(ctx, "p="+ShellQuote(p)+"\n"+missingCheck+`exec cat -- "$p"`, RunOpts{Become: become})
	if err != nil {
		return nil, err
	}
	if err := shellErr(host, "read", p, res); err != nil {
		return nil, err
	}
	return res.Stdout, nil
}

func shellErr(host, op, p string, res *RunResult) error {
	switch res.ExitCode {
	case 0:
		return nil
	case exitMissing:
		return fmt.Errorf("%s: %w", host, &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist})
	}
	msg := strings.TrimSpace(string(res.Stderr))
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", res.ExitCode)
	}
	return fmt.Errorf("%s: %s %s: %s", host, op, p, msg)
}

func shellStat(ctx context.Context, r runner, host, p string, become bool) (*FileInfo, error) {
	script := "p=" + ShellQuote(p) + "\n" + missingCheck +
		`stat -c '%f %s %u %g %Y %U %G' -- "$p" && { [ ! -L "$p" ] || readlink -- "$p"; }`
	res, err := r.Run(ctx, script, RunOpts{Become: become})
	if err != nil {
		return nil, err
	}
	if err := shellErr(host, "stat", p, res); err != nil {
		return nil, err
	}
	return parseStat(host, p, string(res.Stdout))
}

func parseStat(host, p, out string) (*FileInfo, error) {
	line, link, _ := strings.Cut(out, "\n")
	f := strings.Fields(line)
	if len(f) != 7 {
		return nil, fmt.Errorf("%s: stat %s: unexpected output %q", host, p, out)
	}
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	mtime, err3 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%s: stat %s: %v", host, p, err)
	}
	fi := &FileInfo{Mode: GoMode(uint32(raw)), Size: size, ModTime: time.Unix(mtime, 0),
		Owner: f[5], Group: f[6], LinkTarget: strings.TrimSuffix(link, "\n")}
	if fi.Owner == "UNKNOWN" {
		fi.Owner = f[2]
	}
	if fi.Group == "UNKNOWN" {
		fi.Group = f[3]
	}
	return fi, nil
}

// GoMode converts a st_mode (or a chmod mode) to an fs.FileMode; UnixMode
// is its inverse.
func GoMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// writeScript replaces $p atomically in one shell command, data on stdin.
// The size check stops a truncated upload (a dropped connection closes
// stdin early) from replacing the file.
const writeScript = `set -e
# Through a symlink, write its target (as Ansible does), keeping the
# target's mode and owner; the link stays.
if [ -L "$p" ]; then p=$(readlink -f -- "$p"); fi
d=$(dirname -- "$p"); b=$(basename -- "$p")
[ ! -d "$p" ] || { echo "$p is a directory" >&2; exit 1; }
t=$(umask 077; mktemp "$d/.$b.swarmrun-XXXXXXXX")
trap 'rm -f -- "$t"' EXIT
if [ -e "$p" ]; then
  [ -n "$mode" ] || mode=$(stat -c %a -- "$p")
  [ -n "$owner" ] || owner=$(stat -c %u -- "$p")
  [ -n "$group" ] || group=$(stat -c %g -- "$p")
fi
[ -z "$owner" ] || chown -- "$owner" "$t"
[ -z "$group" ] || chgrp -- "$group" "$t"
chmod -- "${mode:-644}" "$t"
cat > "$t"
n=$(wc -c < "$t")
[ $n -eq $size ] || { echo "short write: $n of $size bytes" >&2; exit 1; }
sync -- "$t" 2>/dev/null || sync
mv -f -- "$t" "$p"
trap - EXIT
`

func shellWrite(ctx context.Context, r runner, host, p string, data []byte, o WriteOpts) error {
	mode := ""
	if m := o.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); m != 0 {
		mode = fmt.Sprintf("%o", UnixMode(m))
	}
	script := "p=" + ShellQuote(p) + " mode=" + ShellQuote(mode) + " owner=" + ShellQuote(o.Owner) +
		" group=" + ShellQuote(o.Group) + " size=" + strconv.Itoa(len(data)) + "\n" + writeScript
	res, err := r.Run(ctx, script, RunOpts{Become: o.Become, Stdin: data})
	if err != nil {
		return err
	}
	return shellErr(host, "write", p, res)
}

// UnixMode turns Go's permission and special bits (setuid, setgid,
// sticky) into the numeric mode chmod understands.
func UnixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// idCache maps uids and gids to names and back; one command loads it.
type idCache struct {
	mu            sync.Mutex
	users, groups map[string]string // id -> name and name -> id
}

const idScript = `{ getent passwd || cat /etc/passwd; } 2>/dev/null; echo @@; { getent group || cat /etc/group; } 2>/dev/null`

// loadIDs reads the user and group databases.
func (c *sshConn) loadIDs(ctx context.Context) error {
	res, err := c.Run(ctx, idScript, RunOpts{})
	if err != nil {
		return err
	}
	c.ids.users, c.ids.groups = map[string]string{}, map[string]string{}
	m := c.ids.users
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		if sc.Text() == "@@" {
			m = c.ids.groups
			continue
		}
		f := strings.SplitN(sc.Text(), ":", 4)
		if len(f) < 3 {
			continue
		}
		m["#"+f[2]] = f[0]
		if _, dup := m[f[0]]; !dup {
			m[f[0]] = f[2]
		}
	}
	return nil
}

// lookup finds key ("#id" or a name) in the user or group table. A miss
// reloads the tables once: a step may just have created the user.
func (c *sshConn) lookup(ctx context.Context, group bool, key string) (string, bool, error) {
	c.ids.mu.Lock()
	defer c.ids.mu.Unlock()
	fresh := false
	if c.ids.users == nil {
		if err := c.loadIDs(ctx); err != nil {
			return "", false, err
		}
		fresh = true
	}
	for {
		m := c.ids.users
		if group {
			m = c.ids.groups
		}
		if v, ok := m[key]; ok || fresh {
			return v, ok, nil
		}
		if err := c.loadIDs(ctx); err != nil {
			return "", false, err
		}
		fresh = true
	}
}

func (c *sshConn) names(ctx context.Context, uid, gid uint32) (string, string, error) {
	u, ok, err := c.lookup(ctx, false, "#"+strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", "", err
	}
	if !ok {
		u = strconv.FormatUint(uint64(uid), 10)
	}
	g, ok, err := c.lookup(ctx, true, "#"+strconv.FormatUint(uint64(gid), 10))
	if err != nil {
		return "", "", err
	}
	if !ok {
		g = strconv.FormatUint(uint64(gid), 10)
	}
	return u, g, nil
}

func (c *sshConn) userID(ctx context.Context, name string) (int, error) {
	return c.id(ctx, false, name)
}

func (c *sshConn) groupID(ctx context.Context, name string) (int, error) {
	return c.id(ctx, true, name)
}

func (c *sshConn) id(ctx context.Context, group bool, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	v, ok, err := c.lookup(ctx, group, name)
	if err != nil {
		return 0, err
	}
	kind := "user"
	if group {
		kind = "group"
	}
	if !ok {
		return 0, fmt.Errorf("%s: no %s named %q", c.cfg.Name, kind, name)
	}
	return strconv.Atoi(v)
}
