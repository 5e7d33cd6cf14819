package connection

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The conformance suite: one table of tests that every Conn passes, after
// restic's internal/backend/test (a suite with a constructor per backend,
// every test run against each). A test gets a fresh connection and a
// directory of this machine that the connection reaches; every backend
// here runs its commands as the test's own user.
type connBackend struct {
	name string
	// open returns a new connection and the directory its files live in.
	open func(t *testing.T) (Conn, string)
	// become sends every command and file operation through become.
	become bool
}

var connBackends = []connBackend{
	{name: "local", open: func(t *testing.T) (Conn, string) {
		return dial(t, Config{Name: "here", Local: true}), t.TempDir()
	}},
	{name: "ssh+sftp", open: func(t *testing.T) (Conn, string) {
		s, cfg := setup(t)
		return dial(t, cfg), s.dir
	}},
	// Without an SFTP subsystem, file operations fall back to shell commands.
	{name: "ssh-without-sftp", open: func(t *testing.T) (Conn, string) {
		s, cfg := setup(t)
		s.noSFTP.Store(true)
		return dial(t, cfg), s.dir
	}},
	// A login user that is not root with a sudo that wants a password:
	// files go through the shell with become.
	{name: "ssh+sudo", become: true, open: func(t *testing.T) (Conn, string) {
		s, cfg := setup(t)
		fakeSudo(t, s, "s3cret")
		cfg.User, cfg.BecomePassword = "alice", "s3cret"
		return dial(t, cfg), s.dir
	}},
}

// connCase is what one conformance test works with.
type connCase struct {
	t      *testing.T
	c      Conn
	dir    string
	become bool
	ctx    context.Context
}

func (k *connCase) run(cmd string, stdin []byte) *RunResult {
	k.t.Helper()
	return mustRun(k.t, k.c, cmd, RunOpts{Become: k.become, Stdin: stdin})
}

func (k *connCase) write(p, data string, o WriteOpts) {
	k.t.Helper()
	o.Become = k.become
	if err := k.c.WriteFile(k.ctx, p, []byte(data), o); err != nil {
		k.t.Fatalf("WriteFile(%s): %v", p, err)
	}
}

func (k *connCase) read(p string) string {
	k.t.Helper()
	got, err := k.c.ReadFile(k.ctx, p, k.become)
	if err != nil {
		k.t.Fatalf("ReadFile(%s): %v", p, err)
	}
	return string(got)
}

func (k *connCase) stat(p string) *FileInfo {
	k.t.Helper()
	fi, err := k.c.Stat(k.ctx, p, k.become)
	if err != nil {
		k.t.Fatalf("Stat(%s): %v", p, err)
	}
	return fi
}

// needRoot skips a test that changes owners when the tests do not run as root.
func (k *connCase) needRoot() {
	if os.Geteuid() != 0 {
		k.t.Skip("changing owners needs root")
	}
}

var connTests = []struct {
	name string
	fn   func(k *connCase)
}{
	{"Run", connTestRun},
	{"MissingFile", connTestMissingFile},
	{"WriteNew", connTestWriteNew},
	{"WriteKeepsModeAndOwner", connTestWriteKeeps},
	{"WriteModeAndOwner", connTestWriteModeOwner},
	{"Symlink", connTestSymlink},
	{"LargeFile", connTestLargeFile},
	{"Fetch", connTestFetch},
	{"DialUnix", connTestDialUnix},
}

func TestConnConformance(t *testing.T) {
	for _, b := range connBackends {
		t.Run(b.name, func(t *testing.T) {
			for _, ct := range connTests {
				t.Run(ct.name, func(t *testing.T) {
					c, dir := b.open(t)
					ct.fn(&connCase{t: t, c: c, dir: dir, become: b.become, ctx: context.Background()})
					noTemp(t, dir)
				})
			}
		})
	}
}

// Run: sh -c semantics, stdin, stdout and stderr apart, the exit status.
func connTestRun(k *connCase) {
	res := k.run("echo out; echo err >&2; exit 3", nil)
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		k.t.Errorf("got %+v", res)
	}
	res = k.run("cat; echo; echo err >&2; exit 5", []byte("data"))
	if string(res.Stdout) != "data\n" || string(res.Stderr) != "err\n" || res.ExitCode != 5 {
		k.t.Errorf("stdin: got %+v", res)
	}
	res = k.run("tr a-z A-Z", []byte("hello"))
	if string(res.Stdout) != "HELLO" || res.ExitCode != 0 {
		k.t.Errorf("stdin: got %q, %d", res.Stdout, res.ExitCode)
	}
	// Quotes, several lines and the command's own environment survive.
	res = k.run("x='a b'\nprintf '%s|' \"$x\" 'it'\\''s'; V=1 sh -c 'printf %s \"$V\"'", nil)
	if string(res.Stdout) != "a b|it's|1" {
		k.t.Errorf("quoting: got %q", res.Stdout)
	}
}

// A missing file is fs.ErrNotExist for ReadFile and Stat.
func connTestMissingFile(k *connCase) {
	p := filepath.Join(k.dir, "missing")
	if _, err := k.c.ReadFile(k.ctx, p, k.become); !errors.Is(err, fs.ErrNotExist) {
		k.t.Errorf("ReadFile of a missing file: %v", err)
	}
	if _, err := k.c.Stat(k.ctx, p, k.become); !errors.Is(err, fs.ErrNotExist) {
		k.t.Errorf("Stat of a missing file: %v", err)
	}
}

// A new file gets mode 0644 and the connection user as owner.
func connTestWriteNew(k *connCase) {
	p := filepath.Join(k.dir, "etc", "app.conf")
	os.Mkdir(filepath.Dir(p), 0o755)
	k.write(p, "v1\n", WriteOpts{})
	checkFile(k.t, p, "v1\n", 0o644, os.Geteuid())
	if got := k.read(p); got != "v1\n" {
		k.t.Errorf("ReadFile = %q", got)
	}
	if fi := k.stat(p); fi.Mode != 0o644 || fi.Size != 3 || fi.ModTime.IsZero() {
		k.t.Errorf("Stat = %+v", fi)
	}
}

// Mode 0 and no owner keep an existing file's mode and owner.
func connTestWriteKeeps(k *connCase) {
	p := filepath.Join(k.dir, "f")
	os.WriteFile(p, []byte("old"), 0o600)
	uid := os.Geteuid()
	if uid == 0 {
		uid = 65534
		os.Chown(p, 65534, 65534)
	}
	k.write(p, "two", WriteOpts{})
	checkFile(k.t, p, "two", 0o600, uid)
	if fi := k.stat(p); fi.Mode != 0o600 || fi.Size != 3 || (uid == 65534 && (fi.Owner != "nobody" || fi.Group != "nogroup")) {
		k.t.Errorf("Stat = %+v", fi)
	}
	if got := k.read(p); got != "two" {
		k.t.Errorf("ReadFile = %q", got)
	}
}

// An explicit mode and owner, by name or id; an unknown owner is an error
// that leaves the file as it was.
func connTestWriteModeOwner(k *connCase) {
	k.needRoot()
	p := filepath.Join(k.dir, "secret")
	k.write(p, "top\nsecret", WriteOpts{Mode: 0o600, Owner: "nobody"})
	checkFile(k.t, p, "top\nsecret", 0o600, 65534)
	k.write(p, "v3\n", WriteOpts{Mode: 0o640, Owner: "root", Group: "0"})
	checkFile(k.t, p, "v3\n", 0o640, 0)
	if fi := k.stat(p); fi.Owner != "root" || fi.Group != "root" {
		k.t.Errorf("Stat = %+v", fi)
	}
	if err := k.c.WriteFile(k.ctx, p, nil, WriteOpts{Owner: "no-such-user", Become: k.become}); err == nil {
		k.t.Error("unknown owner accepted")
	}
	checkFile(k.t, p, "v3\n", 0o640, 0)
}

// Stat does not follow a symlink; writing through one writes its target
// and keeps the link, the target's mode and its owner, as Ansible does.
func connTestSymlink(k *connCase) {
	k.needRoot()
	dir := filepath.Join(k.dir, "etc")
	os.Mkdir(dir, 0o755)
	target, link := filepath.Join(dir, "real.conf"), filepath.Join(dir, "app.conf")
	os.WriteFile(target, []byte("old\n"), 0o640)
	os.Chown(target, 65534, 65534)
	os.Symlink("real.conf", link)
	if fi := k.stat(link); fi.Mode&fs.ModeSymlink == 0 || fi.LinkTarget != "real.conf" {
		k.t.Errorf("Stat(link) = %+v", fi)
	}
	k.write(link, "new\n", WriteOpts{})
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		k.t.Errorf("the link was replaced: %v", err)
	}
	checkFile(k.t, target, "new\n", 0o640, 65534)
	if got := k.read(link); got != "new\n" {
		k.t.Errorf("ReadFile(link) = %q", got)
	}
}

// Binary content of several megabytes (many SFTP packets, long shell
// pipes) arrives unchanged both ways.
func connTestLargeFile(k *connCase) {
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	p := filepath.Join(k.dir, "large.bin")
	k.write(p, string(data), WriteOpts{})
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		k.t.Fatalf("written %d bytes, want %d equal ones", len(got), len(data))
	}
	if got := k.read(p); got != string(data) {
		k.t.Errorf("read %d bytes, want %d equal ones", len(got), len(data))
	}
	if fi := k.stat(p); fi.Size != int64(len(data)) {
		k.t.Errorf("Stat size %d", fi.Size)
	}
}

// Fetch copies a file of the host to this machine.
func connTestFetch(k *connCase) {
	p := filepath.Join(k.dir, "remote")
	os.WriteFile(p, []byte("v3\n"), 0o600)
	local := filepath.Join(k.t.TempDir(), "fetched")
	if err := k.c.Fetch(k.ctx, p, local, k.become); err != nil {
		k.t.Fatal(err)
	}
	if got, _ := os.ReadFile(local); string(got) != "v3\n" {
		k.t.Errorf("Fetch = %q", got)
	}
}

// DialUnix reaches a unix socket of the host; a missing one is an error.
func connTestDialUnix(k *connCase) {
	sock := serveUnix(k.t, echo)
	nc, err := k.c.DialUnix(k.ctx, sock)
	if err != nil {
		k.t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "ping" {
		k.t.Errorf("read %q, %v", buf, err)
	}
	if _, err := k.c.DialUnix(k.ctx, sock+".missing"); err == nil {
		k.t.Error("dialled a missing socket")
	}
}
