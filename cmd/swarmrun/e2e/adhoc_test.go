//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdhoc: `swarmrun shell` and `swarmrun run` on lab hosts: identical
// output grouped, different output per host, module arguments typed by the
// schema, idempotent, --check predicting, failures giving exit 2.
func TestAdhoc(t *testing.T) {
	l := startLab(t, 42, 2, false)
	sw := l.SwarmrunExit
	out, code := sw("shell", "all", "-i", l.Inventory, "--", "echo", "same", "everywhere")
	if code != 0 || !strings.Contains(out, "h1, h2 | CHANGED | rc=0 >>\nsame everywhere\n") {
		t.Errorf("shell, same output: exit %d\n%s", code, out)
	}
	out, code = sw("shell", "all", "-i", l.Inventory, "--", "hostname")
	if code != 0 || !strings.Contains(out, "h1 | CHANGED | rc=0 >>\nh1\n") || !strings.Contains(out, "h2 | CHANGED | rc=0 >>\nh2\n") {
		t.Errorf("shell, different output: exit %d\n%s", code, out)
	}
	out, code = sw("shell", "h2", "-i", l.Inventory, "--", "echo oops >&2; exit 3")
	if code != 2 || !strings.Contains(out, "h2 | FAILED") || !strings.Contains(out, "oops") {
		t.Errorf("failing shell: exit %d, want 2\n%s", code, out)
	}

	copyArgs := []string{"run", "all", "-i", l.Inventory, "-m", "copy", "-a", `dest=/etc/adhoc.txt content="a b" mode=0600`}
	out, code = sw(append(copyArgs, "--check")...)
	if code != 0 || strings.Count(out, "changed: [") != 2 {
		t.Errorf("run copy --check: exit %d\n%s", code, out)
	}
	if got := l.MustSSH(t, "h1", "test -e /etc/adhoc.txt && echo present || echo absent"); got != "absent\n" {
		t.Errorf("--check wrote the file: %s", got)
	}
	if out, code = sw(copyArgs...); code != 0 || strings.Count(out, "changed: [") != 2 {
		t.Errorf("run copy: exit %d\n%s", code, out)
	}
	if got := l.MustSSH(t, "h2", "stat -c %a /etc/adhoc.txt; cat /etc/adhoc.txt"); got != "600\na b" {
		t.Errorf("file on h2: %q", got)
	}
	if out, code = sw(append(copyArgs, "--detailed-exitcode")...); code != 0 || strings.Contains(out, "changed: [") {
		t.Errorf("second run copy: exit %d\n%s", code, out)
	}
	out, code = sw("run", "all", "-i", l.Inventory, "-m", "command", "-a", "cmd=uptime", "--output", "json", "--limit", "h1")
	if code != 0 || !strings.Contains(out, `"event":"result"`) || !strings.Contains(out, `"host":"h1"`) || strings.Contains(out, `"host":"h2"`) {
		t.Errorf("run command -o json --limit h1: exit %d\n%s", code, out)
	}
	if out, code = sw("run", "all", "-i", l.Inventory, "-m", "copy", "-a", "dest=/x contnet=y"); code != 1 || !strings.Contains(out, `no argument "contnet"`) {
		t.Errorf("bad argument: exit %d\n%s", code, out)
	}
	testCfgBecomeUser(t, l)

	// env values reach the command, are masked in output, and are in no
	// process's arguments on the host while it runs.
	out, code = sw("run", "h1", "-i", l.Inventory, "-m", "shell", "-a", `cmd="echo got=$TOKEN; ps -eo args > /tmp/ps.txt" env={"TOKEN":"adhoc-secret-77"}`)
	if code != 0 || !strings.Contains(out, "got=********") || strings.Contains(out, "adhoc-secret-77") {
		t.Errorf("shell with env: exit %d\n%s", code, out)
	}
	if got := l.MustSSH(t, "h1", "grep -c adhoc-secret-77 /tmp/ps.txt || true"); got != "0\n" {
		t.Errorf("the env value was in the process list %s times", got)
	}
}

// testCfgBecomeUser: ./ansible.cfg gives the inventory and become_user
// (commands run as that user through sudo); --become-user wins over it.
func testCfgBecomeUser(t *testing.T, l *Lab) {
	dir := t.TempDir()
	cfg := "[defaults]\ninventory = " + l.Inventory + "\n[privilege_escalation]\nbecome = True\nbecome_user = nobody\n"
	writeFile(t, filepath.Join(dir, "ansible.cfg"), cfg)
	os.Chmod(dir, 0o755)
	inDir := func(args ...string) (string, int) {
		cmd := exec.Command(l.Bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG=")
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	if out, code := inDir("shell", "all", "--", "id", "-un"); code != 0 || !strings.Contains(out, "h1, h2 | CHANGED | rc=0 >>\nnobody\n") {
		t.Errorf("become_user from ansible.cfg: exit %d\n%s", code, out)
	}
	if out, code := inDir("shell", "h1", "--become-user", "daemon", "--", "id", "-un"); code != 0 || !strings.Contains(out, "h1 | CHANGED | rc=0 >>\ndaemon\n") {
		t.Errorf("--become-user over ansible.cfg: exit %d\n%s", code, out)
	}
	if out, code := inDir("shell", "h1", "-e", "ansible_become_user=bin", "--", "id", "-un"); code != 0 || !strings.Contains(out, "h1 | CHANGED | rc=0 >>\nbin\n") {
		t.Errorf("ansible_become_user: exit %d\n%s", code, out)
	}
	// become_method su works without sudo (from the root login of the lab).
	l.MustSSH(t, "h2", "chmod 0 /usr/bin/sudo")
	defer l.MustSSH(t, "h2", "chmod 4755 /usr/bin/sudo")
	if out, code := inDir("shell", "h2", "--", "id", "-un"); code != 2 {
		t.Errorf("sudo made unusable, yet become through sudo: exit %d\n%s", code, out)
	}
	if out, code := inDir("shell", "h2", "-e", "ansible_become_method=su", "--", "id", "-un"); code != 0 || !strings.Contains(out, "h2 | CHANGED | rc=0 >>\nnobody\n") {
		t.Errorf("ansible_become_method=su: exit %d\n%s", code, out)
	}
	if out, code := inDir("shell", "h2", "--become-method", "su", "--become-user", "daemon", "--", "id", "-un"); code != 0 || !strings.Contains(out, "h2 | CHANGED | rc=0 >>\ndaemon\n") {
		t.Errorf("--become-method su: exit %d\n%s", code, out)
	}
}
