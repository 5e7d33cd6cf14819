//go:build e2e

package e2e

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	"github.com/swarmrun/swarmrun/runtime/testutil"
)

// TestGenericModules plays testdata/e2e/generic/site.star (command, shell,
// copy, file, lineinfile, service) over real OpenSSH against this machine:
// a --check run first must predict exactly the changes of the real run and
// modify nothing; the real run changes every step; a second run changes
// nothing. The test runs its own sshd on 127.0.0.1 and its own init.d
// service, and works in a fresh directory under /tmp.
func TestGenericModules(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux (an sshd for root, an init.d service)")
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Skip("needs OpenSSH's sshd")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("the init.d service step needs a host without systemd")
	}
	bin := Binary(t)
	inv := genStartSSHD(t)
	svc := genInstallService(t)
	root, err := os.MkdirTemp("", "swarmrun-generic-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	// Pre-existing state the playbook edits or removes.
	if err := os.WriteFile(filepath.Join(root, "existing.conf"), []byte("#PermitRootLogin yes\nPort 22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "scratch", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "scratch", "sub", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	playbook := e2eData(t, "generic", "site.star")
	play := func(extra ...string) *PlayRun {
		t.Helper()
		args := append([]string{"play", playbook, "-i", inv, "-e", "root=" + root, "-e", "svc=" + svc, "--output", "json", "--diff"}, extra...)
		t0 := time.Now()
		r := parsePlay(runCmd(5*time.Minute, bin, args...))
		t.Logf("play %s: %s", strings.Join(extra, " "), time.Since(t0).Round(time.Millisecond))
		if r.Err != nil {
			t.Fatalf("swarmrun %s: %v\n%s", strings.Join(args, " "), r.Err, r.Out)
		}
		return r
	}

	before := testutil.Tree(t, root)
	check := play("--check")
	if after := testutil.Tree(t, root); !reflect.DeepEqual(before, after) {
		t.Fatalf("--check modified files:\nbefore %v\nafter  %v", before, after)
	}
	if genSvcRunning(svc) {
		t.Fatal("--check started the service")
	}
	if links, _ := filepath.Glob("/etc/rc2.d/S??" + svc); len(links) > 0 {
		t.Fatalf("--check enabled the service: %v", links)
	}

	first := play()
	second := play()

	samePrediction(t, "site.star", check, first)
	// Every step but the read-only command changes on a fresh host.
	if n := len(first.Results); n != 14 {
		t.Errorf("first run: %d results, want 14", n)
	}
	if changed := first.With("changed"); len(changed) != 13 {
		t.Errorf("first run changed %d steps, want 13: %v", len(changed), changed)
	}
	if c := second.With("changed"); len(c) != 0 {
		t.Errorf("second run changed %v", c)
	}
	for _, r := range []*PlayRun{check, first, second} {
		for _, e := range r.Results {
			if e.Status != "ok" && e.Status != "changed" {
				t.Errorf("%s on %s: %s: %s", e.Task, e.Host, e.Status, e.Msg)
			}
		}
	}

	// The end state, checked directly.
	for p, want := range map[string]string{
		"etc/motd":      "managed by swarmrun\n",
		"etc/app.conf":  "# app.conf, copied by the generic e2e playbook\n#port 80\nworkers 2\n",
		"existing.conf": "PermitRootLogin prohibit-password\nPort 22\n",
		"etc/settings":  "enabled=1\nport 8080\n",
		"shout":         "HELLO\n",
	} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", p, b, err, want)
		}
	}
	for p, want := range map[string]fs.FileMode{"etc": fs.ModeDir | 0o750, "etc/app.conf": 0o640, "etc/settings": 0o600, "existing.conf": 0o600} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(root, "current")); err != nil || l != filepath.Join(root, "etc") {
		t.Errorf("link: %q %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(root, "scratch")); !os.IsNotExist(err) {
		t.Errorf("scratch not removed: %v", err)
	}
	if !genSvcRunning(svc) {
		t.Error("service not running after the run")
	}
	if links, _ := filepath.Glob("/etc/rc2.d/S??" + svc); len(links) != 1 {
		t.Errorf("service not enabled: %v", links)
	}
}

// The helpers are this file's own (prefixed gen) so that the test does not
// depend on the lab tests' helpers in the same package.

// genStartSSHD runs a private sshd on a free port of 127.0.0.1 that lets
// root in with a fresh key, and returns an inventory for it.
func genStartSSHD(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"hostkey", "id_ed25519"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarmrun-e2e", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	port := sshtest.FreePort(t)
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 20
Subsystem sftp internal-sftp
`, port, filepath.Join(dir, "hostkey"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd's privilege separation directory; Debian makes it at boot.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", cfg)
	log, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("sshd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("sshd did not listen on %d: %v\n%s", port, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "hostkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(hostPub))
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, f[0], f[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory")
	line := fmt.Sprintf("localhost-ssh ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s swarmrun_known_hosts_file=%s\n",
		port, filepath.Join(dir, "id_ed25519"), kh)
	if err := os.WriteFile(inv, []byte("[all]\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	return inv
}

// genInstallService writes a harmless init.d service (a sleep with a
// pidfile) under a unique name, so that engineers running this test at the
// same time on one machine do not share it, and removes it afterwards.
func genInstallService(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("swarmrun-test-%d", os.Getpid())
	script := "/etc/init.d/" + name
	pidfile := "/run/" + name + ".pid"
	body := `#!/bin/sh
### BEGIN INIT INFO
# Provides:          ` + name + `
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: swarmrun e2e test service (a sleep)
### END INIT INFO
PIDFILE=` + pidfile + `
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
case "$1" in
start)
	running && exit 0
	setsid sleep 100000 </dev/null >/dev/null 2>&1 &
	echo $! > "$PIDFILE" ;;
stop)
	if running; then kill "$(cat "$PIDFILE")"; fi
	rm -f "$PIDFILE" ;;
restart|force-reload)
	"$0" stop; "$0" start ;;
reload)
	running ;;
status)
	if running; then echo "` + name + ` is running"; exit 0; fi
	echo "` + name + ` is not running"; exit 3 ;;
*)
	echo "usage: $0 start|stop|restart|reload|status" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command(script, "stop").Run()
		exec.Command("update-rc.d", "-f", name, "remove").Run()
		os.Remove(script)
		os.Remove(pidfile)
	})
	return name
}

func genSvcRunning(name string) bool {
	return exec.Command("/etc/init.d/"+name, "status").Run() == nil
}
