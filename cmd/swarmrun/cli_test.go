package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/ssh"
)

var (
	binOnce sync.Once
	bin     string
	binErr  error
)

// swarmrun builds the real binary once and runs it in dir.
func swarmrun(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	binOnce.Do(func() {
		d, err := os.MkdirTemp("", "swarmrun-cli-test-")
		if err != nil {
			binErr = err
			return
		}
		bin = filepath.Join(d, "swarmrun")
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Each mistake a user makes gives one clear message naming the file and
// line or the host, and the documented exit code.
func TestClearErrors(t *testing.T) {
	dir := t.TempDir()
	addr, knownHosts := fakeSSHServer(t)
	host, port, _ := net.SplitHostPort(addr)
	write(t, dir, map[string]string{
		"good":         "[web]\nw1 ansible_connection=local\n",
		"bad":          "[web]\nw1\n[web:children\nx\n",
		"syntax.star":  "all = hosts(\"all\")\nif True\n    pass\n",
		"unknown.star": "all = hosts(\"all\")\n\ncopy(all, dest = \"/tmp/x\", colour = \"red\")\n",
		"ok.star":      "command(hosts(\"all\"), argv = [\"true\"], changed_when = False)\n",
		"closed":       "[web]\nw1 ansible_host=127.0.0.1 ansible_port=1 ansible_user=root\n",
		"keyhost":      fmt.Sprintf("[web]\nw1 ansible_host=%s ansible_port=%s ansible_user=root swarmrun_known_hosts_file=%s\n", host, port, knownHosts),
	})
	cases := []struct {
		name, inventory, playbook string
		code                      int
		want                      []string
	}{
		{"bad inventory", "bad", "ok.star", 1, []string{"bad:3"}},
		{"syntax error", "good", "syntax.star", 1, []string{"syntax.star:3:1", "want ':'"}},
		{"unknown argument", "good", "unknown.star", 1, []string{"unknown.star:3", `unknown argument "colour"`, "valid arguments:", "dest"}},
		{"unreachable", "closed", "ok.star", 3, []string{"w1", "UNREACHABLE", "127.0.0.1:1"}},
		{"changed host key", "keyhost", "ok.star", 3, []string{"w1", "HOST KEY CHANGED", knownHosts}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := swarmrun(t, dir, "play", c.playbook, "-i", c.inventory)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	out, code := swarmrun(t, dir, "play", "ok.star", "-i", "good")
	if code != 0 || !strings.Contains(out, "ok: [w1]") {
		t.Errorf("good run: exit %d\n%s", code, out)
	}
}

// fakeSSHServer listens with one host key and returns a known_hosts file
// that records a different key for its address.
func fakeSSHServer(t *testing.T) (string, string) {
	t.Helper()
	srv := sshtest.Start(t, sshtest.Handler{Auth: func(cfg *ssh.ServerConfig) { cfg.NoClientAuth = true }})
	other := sshtest.NewSigner(t).PublicKey()
	host, port, _ := net.SplitHostPort(srv.Addr)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(other))
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.Addr, kh
}

func TestInterspersedFlags(t *testing.T) {
	app := &cli.App{Commands: []*cli.Command{playCommand(), labCommand()}}
	got := strings.Join(interspersed(app, []string{"swarmrun", "play", "site.star", "-i", "hosts", "--check", "-e", "a=1"}), " ")
	if got != "swarmrun play -i hosts --check -e a=1 -- site.star" {
		t.Errorf("play: %s", got)
	}
	got = strings.Join(interspersed(app, []string{"swarmrun", "lab", "ssh", "h1", "docker", "ps", "-q"}), " ")
	if got != "swarmrun lab ssh -- h1 docker ps -q" {
		t.Errorf("lab ssh: %s", got)
	}
}

func TestExpandVerbose(t *testing.T) {
	for in, want := range map[string]string{
		"swarmrun play x.star -vvv -i h":      "swarmrun play x.star -v -v -v -i h",
		"swarmrun shell all -vv -- echo -vv":  "swarmrun shell all -v -v -- echo -vv",
		"swarmrun lab ssh h1 ls -vv":          "swarmrun lab ssh h1 ls -vv",
		"swarmrun play x.star -v -verbose -V": "swarmrun play x.star -v -verbose -V",
	} {
		if got := strings.Join(expandVerbose(strings.Fields(in)), " "); got != want {
			t.Errorf("%s: got %s", in, got)
		}
	}
}

// Ctrl-C cancels the running step (the remote command is killed), prints
// the recap and exits 130.
func TestInterruptPrintsRecap(t *testing.T) {
	dir := t.TempDir()
	marker, started := filepath.Join(dir, "after"), filepath.Join(dir, "started")
	write(t, dir, map[string]string{
		"hosts":     "[web]\nw1 ansible_connection=local\n",
		"slow.star": fmt.Sprintf("command(hosts(\"all\"), argv = [\"sh\", \"-c\", \"touch %s; exec sleep 30\"])\ncopy(hosts(\"all\"), dest = %q, content = \"x\")\n", started, marker),
	})
	swarmrun(t, dir, "--version") // build first
	cmd := exec.Command(bin, "play", "slow.star", "-i", "hosts")
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The step is running (on a loaded machine the start can take seconds).
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(started); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to stop after Ctrl-C", d)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit = %v, want 130\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PLAY RECAP") || !strings.Contains(out.String(), "interrupted") {
		t.Errorf("no recap or no interrupted message:\n%s", out.String())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a step after the interrupt ran")
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep 30").Output(); len(out) > 0 {
		t.Logf("note: sleep processes still running: %s", out)
	}
}
