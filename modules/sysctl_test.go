package modules

import (
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

func TestSysctlValue(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{int64(1), "1"}, {true, "1"}, {false, "0"}, {"1024 65000", "1024 65000"},
		{"32768\t60999\n", "32768 60999"}, {"  a   b ", "a b"}, {[]any{int64(4096), int64(87380), int64(6291456)}, "4096 87380 6291456"},
		{float64(262144), "262144"},
	}
	for _, c := range cases {
		if got := sysctlValue(c.in); got != c.want {
			t.Errorf("sysctlValue(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
	if sysctlKey("net/ipv4/ip_forward") != "net.ipv4.ip_forward" || sysctlKey(" vm.swappiness ") != "vm.swappiness" {
		t.Error("sysctlKey")
	}
	if sysctlProcPath("net.ipv4.ip_forward") != "/proc/sys/net/ipv4/ip_forward" {
		t.Error("sysctlProcPath")
	}
}

func TestSysctlEditFile(t *testing.T) {
	old := "# my settings\nnet.ipv4.ip_forward=0\n\n; other\nvm.swappiness = 60\n-net.core.somaxconn = 128\nkernel.pid_max = 4194304"
	want := map[string]string{"net.ipv4.ip_forward": "1", "net.core.somaxconn": "65536", "vm.max_map_count": "262144", "net.ipv4.ip_local_port_range": "1024 65000"}
	got := sysctlEditFile(old, want)
	exp := "# my settings\nnet.ipv4.ip_forward = 1\n\n; other\nvm.swappiness = 60\nnet.core.somaxconn = 65536\nkernel.pid_max = 4194304\n" +
		"net.ipv4.ip_local_port_range = 1024 65000\nvm.max_map_count = 262144\n"
	if got != exp {
		t.Errorf("got\n%s\nwant\n%s", got, exp)
	}
	// Idempotent: editing the result again changes nothing.
	if again := sysctlEditFile(got, want); again != got {
		t.Errorf("second edit changed the file:\n%s", again)
	}
	// A line whose value only differs in spacing is rewritten in canonical form
	// once, then left alone.
	if got := sysctlEditFile("net.ipv4.ip_local_port_range = 1024\t65000\n", map[string]string{"net.ipv4.ip_local_port_range": "1024 65000"}); got != "net.ipv4.ip_local_port_range = 1024 65000\n" {
		t.Errorf("got %q", got)
	}
	if got := sysctlEditFile("", map[string]string{"a.b": "1"}); !strings.HasPrefix(got, "# Managed by swarmrun") || !strings.HasSuffix(got, "a.b = 1\n") {
		t.Errorf("new file: %q", got)
	}
}

func TestHpSections(t *testing.T) {
	// Run a real script through sh, as a host would.
	script := strings.Join([]string{
		hpSection("a"), "printf 'no newline'", hpSection("b"), "printf 'x\\n\\n'", hpSection("empty"), hpSection("last"), "printf 'end\\n'",
	}, "\n")
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	sec := hpSections(string(out))
	want := map[string]string{"a": "no newline", "b": "x\n\n", "empty": "", "last": "end\n"}
	for k, v := range want {
		if got, ok := sec[k]; !ok || got != v {
			t.Errorf("section %s = %q (%v), want %q", k, got, ok, v)
		}
	}
	if len(sec) != len(want) {
		t.Errorf("sections: %v", sec)
	}
}

func TestHpReadFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a":     "no newline",
		"b":     "x\n\n",
		"empty": "",
		"hdr":   "==> " + dir + "/a <==\nlooks like a header but starts the file\n",
	}
	for n, c := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	paths := []string{dir + "/missing", dir + "/a", dir + "/b", dir + "/gone", dir + "/empty", dir + "/hdr", "/proc/sys/kernel/ostype", dir + "/nope"}
	// Run it through sh with sections around it, as a module does.
	script := hpSection("files") + "; " + hpReadFiles(paths...) + "\n" + hpSection("after")
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := hpFiles(hpSections(string(out))["files"], paths)
	want := map[string]string{dir + "/a": "no newline", dir + "/b": "x\n\n", dir + "/empty": "", dir + "/hdr": files["hdr"], "/proc/sys/kernel/ostype": "Linux\n"}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (%v), want %q", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("files: %q", got)
	}
	// Nothing readable: no files.
	out, _ = exec.Command("sh", "-c", hpReadFiles(dir+"/missing")).Output()
	if got := hpFiles(string(out), []string{dir + "/missing"}); len(got) != 0 {
		t.Errorf("missing only: %q", got)
	}
}

func TestHpCat(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"no newline", "x\n\n", "", "\n", "  lead\ttab \\back\\slash\\\n* soft nofile 1\n{\"a\": \"$HOME `x`\"}"} {
		f := filepath.Join(dir, "f")
		os.WriteFile(f, []byte(c), 0o644)
		out, err := exec.Command("sh", "-c", hpCat(f)).Output()
		if err != nil || string(out) != c {
			t.Errorf("hpCat(%q) = %q, %v", c, out, err)
		}
	}
}

// shConn runs commands with the local sh, so the module's batched scripts are
// exercised for real. It refuses writes: tests using it run in check mode and
// must not touch the machine.
type shConn struct{ t *testing.T }

func (c shConn) Run(ctx context.Context, cmd string, o connection.RunOpts) (*connection.RunResult, error) {
	x := exec.CommandContext(ctx, "sh", "-c", cmd)
	var so, se strings.Builder
	x.Stdout, x.Stderr = &so, &se
	err := x.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return &connection.RunResult{Stdout: []byte(so.String()), Stderr: []byte(se.String()), ExitCode: code}, err
}
func (c shConn) ReadFile(_ context.Context, p string, _ bool) ([]byte, error) { return os.ReadFile(p) }
func (c shConn) Stat(context.Context, string, bool) (*connection.FileInfo, error) {
	return nil, fs.ErrNotExist
}
func (c shConn) WriteFile(_ context.Context, p string, _ []byte, _ connection.WriteOpts) error {
	c.t.Errorf("WriteFile(%s) in check mode", p)
	return fs.ErrPermission
}
func (c shConn) Fetch(context.Context, string, string, bool) error { return fs.ErrPermission }
func (c shConn) DialUnix(context.Context, string) (net.Conn, error) {
	return nil, fs.ErrPermission
}
func (c shConn) Docker(context.Context, bool) (client.APIClient, error) {
	return nil, fs.ErrPermission
}
func (c shConn) Close() error { return nil }

func checkTarget(t *testing.T) *Target {
	return &Target{Name: "local", Conn: shConn{t}, Check: true, Diff: true, Dir: t.TempDir()}
}

func TestSysctlCheckModeLocal(t *testing.T) {
	live, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skip("no /proc/sys here")
	}
	m, _ := Get("sysctl")
	file := t.TempDir() + "/99-test.conf"
	// The live value (with its tab) in another spelling: no change.
	r, err := m.Run(context.Background(), checkTarget(t), Params{"values": map[string]any{"net.ipv4.ip_local_port_range": strings.Fields(string(live))[0] + "   " + strings.Fields(string(live))[1]}, "file": "", "reload": true})
	if err != nil || r.Changed {
		t.Fatalf("same value: changed=%v err=%v", r != nil && r.Changed, err)
	}
	// A different value and a file to create: predicted, not applied.
	r, err = m.Run(context.Background(), checkTarget(t), Params{"values": map[string]any{"net.ipv4.ip_local_port_range": "1024 65001"}, "file": file, "reload": true})
	if err != nil || !r.Changed || !strings.Contains(r.Diff, "live net.ipv4.ip_local_port_range") || !strings.Contains(r.Diff, "+net.ipv4.ip_local_port_range = 1024 65001") {
		t.Fatalf("r=%+v err=%v", r, err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("check mode wrote the file")
	}
	_, err = m.Run(context.Background(), checkTarget(t), Params{"values": map[string]any{"net.ipv4.no_such_key": int64(1)}, "file": "", "reload": true})
	if err == nil || !strings.Contains(err.Error(), "unknown key net.ipv4.no_such_key") {
		t.Fatalf("unknown key: %v", err)
	}
}
