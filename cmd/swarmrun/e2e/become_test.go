//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const becomeNet = 37

// Login users the test creates on the lab host, and their sudo passwords.
const (
	becomeOpsPassword   = "opsSecret-4711"   // ops: sudo with this password
	becomePlainPassword = "plainSecret-0815" // plain: a password, but no sudo
)

// TestBecome proves --become with real sudo over real sshd: on one lab host
// (with dockerd) it creates the users deploy (NOPASSWD sudo), ops (sudo with
// a password) and plain (no sudo), none in the docker group, and plays
// testdata/e2e/become/site.star as each: files in /etc and /root, `id -u`,
// and a Docker network, which for these users goes through
// `sudo docker system dial-stdio`.
func TestBecome(t *testing.T) {
	l := startLab(t, becomeNet, 1, true)
	h := l.Hosts[0]
	pub, err := os.ReadFile(l.Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	setup := `set -e
for u in deploy ops plain; do
	id -u $u >/dev/null 2>&1 || useradd -m -s /bin/sh $u
	install -d -m 0700 -o $u -g $u /home/$u/.ssh
	printf '%s\n' '` + strings.TrimSpace(string(pub)) + `' > /home/$u/.ssh/authorized_keys
	chown $u:$u /home/$u/.ssh/authorized_keys; chmod 0600 /home/$u/.ssh/authorized_keys
done
echo 'deploy ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/swarmrun-deploy
echo 'ops ALL=(ALL:ALL) ALL' > /etc/sudoers.d/swarmrun-ops
chmod 0440 /etc/sudoers.d/swarmrun-*
visudo -c >/dev/null
printf 'ops:%s\nplain:%s\n' '` + becomeOpsPassword + `' '` + becomePlainPassword + `' | chpasswd
id -u deploy`
	deployUID := trim(l.MustSSH(t, h.Name, setup))
	if groups := l.MustSSH(t, h.Name, "id -nG deploy; id -nG ops; id -nG plain"); strings.Contains(groups, "docker") || strings.Contains(groups, "sudo") {
		t.Fatalf("a test user is in the docker or sudo group: %s", groups)
	}
	t.Logf("docker socket: %s", trim(l.MustSSH(t, h.Name, "stat -c '%U:%G %a' /var/run/docker.sock")))

	// The real sudo works on the host, as the real ssh client sees it.
	if got := trim(becomeSSH(t, l, "deploy", "sudo -n id -u")); got != "0" {
		t.Fatalf("deploy: sudo -n id -u = %q, want 0", got)
	}
	if got := trim(becomeSSH(t, l, "ops", "printf '%s\\n' '"+becomeOpsPassword+"' | sudo -S -p '' id -u")); got != "0" {
		t.Fatalf("ops: sudo -S id -u = %q, want 0", got)
	}
	if out, err := becomeSSHErr(l, "deploy", "test -w /etc || test -r /var/run/docker.sock -a -w /var/run/docker.sock || exit 0; echo writable"); err != nil || strings.Contains(out, "writable") {
		t.Fatalf("deploy can write /etc or open the docker socket without sudo (%v): %s", err, out)
	}

	// One inventory per login user: the lab's, with another ansible_user.
	inv := func(user, extra string) string {
		return l.InventoryWith(t, filepath.Join(t.TempDir(), "inventory-"+user), func(inv string) string {
			s := strings.ReplaceAll(inv, "ansible_user=root", "ansible_user="+user+extra)
			if s == inv {
				t.Fatalf("no ansible_user=root in the lab inventory:\n%s", inv)
			}
			return s
		})
	}
	invDeploy, invOps, invPlain := inv("deploy", ""), inv("ops", ""), inv("plain", "")
	invDeployBecome := inv("deploy", " ansible_become=true")
	invOpsPassword := inv("ops", " ansible_become=true ansible_become_password="+becomeOpsPassword)

	playbook := e2eData(t, "become", "site.star")
	play := func(t *testing.T, inventory, password string, args ...string) *PlayRun {
		t.Helper()
		full := append([]string{"play", playbook, "-i", inventory, "--output", "json"}, args...)
		t0 := time.Now()
		r := parsePlay(becomeRun(l.Bin, password, nil, full...))
		t.Logf("play -i %s %s: %s, %v", filepath.Base(inventory), strings.Join(args, " "), time.Since(t0).Round(time.Millisecond), r.Err)
		return r
	}
	all := []string{"who am i", "root-only dir in /etc", "root-owned file in /etc", "line in a root-only file",
		"line in a file under /root", "docker network through sudo"}
	changing := all[1:]
	tasks := func(r *PlayRun, status string) []string {
		var out []string
		for _, x := range r.Results {
			if x.Status == status {
				out = append(out, x.Task)
			}
		}
		return out
	}
	mustOK := func(t *testing.T, r *PlayRun) {
		t.Helper()
		if r.Err != nil {
			t.Fatalf("play failed: %v\n%s", r.Err, r.Out)
		}
		if f := r.With("failed"); len(f) > 0 {
			t.Fatalf("failed steps %v\n%s", f, r.Out)
		}
	}
	mustChange := func(t *testing.T, r *PlayRun, want []string) {
		t.Helper()
		mustOK(t, r)
		if got := tasks(r, "changed"); !slices.Equal(got, want) {
			t.Fatalf("changed steps %q, want %q\n%s", got, want, r.Out)
		}
		if len(r.Results) != len(all) {
			t.Fatalf("%d results, want %d\n%s", len(r.Results), len(all), r.Out)
		}
	}
	mustPrint := func(t *testing.T, r *PlayRun, msg string) {
		t.Helper()
		if !strings.Contains(r.Out, `{"event":"print","msg":"`+msg+`"}`) {
			t.Fatalf("no print %q in the output:\n%s", msg, r.Out)
		}
	}
	// state is what the host holds for a suffix, as root sees it.
	state := func(t *testing.T, suffix string) string {
		t.Helper()
		return trim(l.MustSSH(t, h.Name, fmt.Sprintf(`cd /etc/swarmrun-become-%[1]s 2>/dev/null && stat -c '%%n %%U:%%G %%a' . app.conf settings && cat app.conf settings
stat -c '%%n %%U:%%G %%a' /root/swarmrun-become-%[1]s.txt 2>/dev/null && cat /root/swarmrun-become-%[1]s.txt
docker network ls --filter name=^becomenet-%[1]s$ --format '{{.Name}} {{.Driver}}'
true`, suffix)))
	}
	wantState := func(suffix string) string {
		return strings.Join([]string{
			". root:root 750", "app.conf root:root 600", "settings root:root 600",
			"# managed by swarmrun", "enabled=1", "port=8080",
			"/root/swarmrun-become-" + suffix + ".txt root:root 600", "become=" + suffix,
			"becomenet-" + suffix + " bridge",
		}, "\n")
	}
	noSecret := func(t *testing.T, r *PlayRun, secrets ...string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(r.Out, s) {
				t.Fatalf("the output shows a password %q:\n%s", s, r.Out)
			}
		}
	}
	failedWith := func(t *testing.T, r *PlayRun, want ...string) string {
		t.Helper()
		var ee *exec.ExitError
		if !errors.As(r.Err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want exit status 2 (a host failed)\n%s", r.Err, r.Out)
		}
		if len(r.Results) == 0 || r.Results[0].Task != all[0] || r.Results[0].Status != "failed" {
			t.Fatalf("the first step did not fail:\n%s", r.Out)
		}
		if n := len(r.Results); n != 1 {
			t.Fatalf("%d results: the failed host must drop out after the first step\n%s", n, r.Out)
		}
		msg := r.Results[0].Msg
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("message %q does not say %q", msg, w)
			}
		}
		if r.Recap[h.Name]["failed"] != 1 {
			t.Fatalf("recap %v, want 1 failed on %s", r.Recap, h.Name)
		}
		return msg
	}

	t.Run("control: deploy without become", func(t *testing.T) {
		r := play(t, invDeploy, "", "-e", "suffix=plainrun")
		var ee *exec.ExitError
		if !errors.As(r.Err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", r.Err, r.Out)
		}
		mustPrint(t, r, "uid "+h.Name+" "+deployUID)
		if f := tasks(r, "failed"); len(f) != 1 || f[0] != "root-only dir in /etc" {
			t.Fatalf("failed steps %q, want the /etc dir step\n%s", f, r.Out)
		}
	})

	t.Run("deploy NOPASSWD --become", func(t *testing.T) {
		check := play(t, invDeploy, "", "-e", "suffix=deploy", "--become", "--check")
		mustChange(t, check, changing)
		mustPrint(t, check, "uid "+h.Name+" 0")
		if got := state(t, "deploy"); got != "" {
			t.Fatalf("--check changed the host:\n%s", got)
		}
		first := play(t, invDeploy, "", "-e", "suffix=deploy", "--become")
		mustChange(t, first, changing)
		mustPrint(t, first, "uid "+h.Name+" 0")
		mustPrint(t, first, "network "+h.Name+" becomenet-deploy")
		if got, want := state(t, "deploy"), wantState("deploy"); got != want {
			t.Fatalf("host state after the run:\n%s\nwant:\n%s", got, want)
		}
		again := play(t, invDeploy, "", "-e", "suffix=deploy", "--become")
		mustChange(t, again, nil)
		mustPrint(t, again, "uid "+h.Name+" 0")
		check2 := play(t, invDeploy, "", "-e", "suffix=deploy", "--become", "--check")
		mustChange(t, check2, nil)
	})

	t.Run("ops password from SWARMRUN_BECOME_PASSWORD", func(t *testing.T) {
		r := play(t, invOps, becomeOpsPassword, "-e", "suffix=ops", "--become", "--diff")
		mustChange(t, r, changing)
		mustPrint(t, r, "uid "+h.Name+" 0")
		noSecret(t, r, becomeOpsPassword)
		if got, want := state(t, "ops"), wantState("ops"); got != want {
			t.Fatalf("host state after the run:\n%s\nwant:\n%s", got, want)
		}
		again := play(t, invOps, becomeOpsPassword, "-e", "suffix=ops", "--become")
		mustChange(t, again, nil)
		noSecret(t, again, becomeOpsPassword)
		// The sudo dial-stdio sessions end with the run.
		eventually(t, 10*time.Second, "no dial-stdio left on the host", func() error {
			if out, _ := l.SSH(h.Name, "pgrep -fa '[d]ocker system dial-stdio' || true"); trim(out) != "" {
				return fmt.Errorf("still running:\n%s", out)
			}
			return nil
		})
		// The human output too.
		out, err := becomeRun(l.Bin, becomeOpsPassword, nil, "play", playbook, "-i", invOps, "-e", "suffix=ops", "--become", "--diff", "-v")
		if err != nil || !strings.Contains(out, "uid "+h.Name+" 0") {
			t.Fatalf("human run: %v\n%s", err, out)
		}
		if strings.Contains(out, becomeOpsPassword) {
			t.Fatalf("the human output shows the password:\n%s", out)
		}
	})

	t.Run("ops password from -K on a terminal", func(t *testing.T) {
		out, err := becomeAskPass(t, l.Bin, becomeOpsPassword,
			"play", playbook, "-i", invOps, "-e", "suffix=opsk", "--become", "-K", "--output", "json")
		r := parsePlay(out, err)
		mustChange(t, r, changing)
		mustPrint(t, r, "uid "+h.Name+" 0")
		if !strings.Contains(out, "BECOME password: ") {
			t.Fatalf("no password prompt:\n%s", out)
		}
		noSecret(t, r, becomeOpsPassword)
		if got, want := state(t, "opsk"), wantState("opsk"); got != want {
			t.Fatalf("host state after the run:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("ops wrong password", func(t *testing.T) {
		const wrong = "notThePassword-1234"
		r := play(t, invOps, wrong, "-e", "suffix=opswrong", "--become")
		msg := failedWith(t, r, "sudo refused the become password", "SWARMRUN_BECOME_PASSWORD")
		t.Logf("message: %s", msg)
		noSecret(t, r, wrong, becomeOpsPassword)
		if got := state(t, "opswrong"); got != "" {
			t.Fatalf("a failed become changed the host:\n%s", got)
		}
	})

	t.Run("ops without a password", func(t *testing.T) {
		r := play(t, invOps, "", "-e", "suffix=opsnone", "--become")
		msg := failedWith(t, r, "sudo needs a password", "-K", "SWARMRUN_BECOME_PASSWORD")
		t.Logf("message: %s", msg)
		if got := state(t, "opsnone"); got != "" {
			t.Fatalf("a failed become changed the host:\n%s", got)
		}
	})

	t.Run("plain is not in sudoers", func(t *testing.T) {
		// sudo checks the password first, then refuses the user.
		r := play(t, invPlain, becomePlainPassword, "-e", "suffix=plain", "--become")
		msg := failedWith(t, r, "become (sudo -u root) failed", "not in the sudoers file")
		t.Logf("message: %s", msg)
		noSecret(t, r, becomePlainPassword)
		// Without a password sudo asks for one before it looks at sudoers.
		r = play(t, invPlain, "", "-e", "suffix=plain", "--become")
		t.Logf("message without a password: %s", failedWith(t, r, "sudo needs a password"))
		if got := state(t, "plain"); got != "" {
			t.Fatalf("a failed become changed the host:\n%s", got)
		}
	})

	t.Run("ansible_become=true in the inventory", func(t *testing.T) {
		check := play(t, invDeployBecome, "", "-e", "suffix=inv", "--check")
		mustChange(t, check, changing)
		mustPrint(t, check, "uid "+h.Name+" 0")
		first := play(t, invDeployBecome, "", "-e", "suffix=inv")
		mustChange(t, first, changing)
		mustPrint(t, first, "uid "+h.Name+" 0")
		if got, want := state(t, "inv"), wantState("inv"); got != want {
			t.Fatalf("host state after the run:\n%s\nwant:\n%s", got, want)
		}
		mustChange(t, play(t, invDeployBecome, "", "-e", "suffix=inv"), nil)
	})

	t.Run("ops password in the inventory", func(t *testing.T) {
		r := play(t, invOpsPassword, "", "-e", "suffix=opsinv", "--diff")
		mustChange(t, r, changing)
		mustPrint(t, r, "uid "+h.Name+" 0")
		mustPrint(t, r, "become password of "+h.Name+": ********")
		noSecret(t, r, becomeOpsPassword)
		if got, want := state(t, "opsinv"), wantState("opsinv"); got != want {
			t.Fatalf("host state after the run:\n%s\nwant:\n%s", got, want)
		}
	})
}

// becomeSSHErr runs command on the lab's host as user with the real ssh client.
func becomeSSHErr(l *Lab, user, command string) (string, error) {
	args := l.SSHArgs(l.Hosts[0].Name)
	args[len(args)-1] = user + "@" + l.Hosts[0].Addr
	return runCmd(time.Minute, "ssh", append(args, command)...)
}

func becomeSSH(t *testing.T, l *Lab, user, command string) string {
	t.Helper()
	out, err := becomeSSHErr(l, user, command)
	if err != nil {
		t.Fatalf("ssh %s@%s %q: %v\n%s", user, l.Hosts[0].Name, command, err, out)
	}
	return out
}

// becomeEnv is this process's environment without swarmrun's variables,
// plus SWARMRUN_BECOME_PASSWORD if password is set.
func becomeEnv(password string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWARMRUN_") {
			env = append(env, kv)
		}
	}
	if password != "" {
		env = append(env, "SWARMRUN_BECOME_PASSWORD="+password)
	}
	return env
}

// becomeRun runs bin with args and returns its combined output.
func becomeRun(bin, password string, stdin *os.File, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = becomeEnv(password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// becomeAskPass runs bin with its stdin on a new pseudo-terminal (stdout and
// stderr stay pipes) and types password once the terminal's echo is off, i.e.
// once swarmrun reads the password.
func becomeAskPass(t *testing.T, bin, password string, args ...string) (string, error) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	defer slave.Close()
	go func() { // drain whatever the terminal echoes
		b := make([]byte, 1024)
		for {
			if _, err := master.Read(b); err != nil {
				return
			}
		}
	}()
	typed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			var tio syscall.Termios
			if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, slave.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
				typed <- e
				return
			}
			if tio.Lflag&syscall.ECHO == 0 {
				_, err := master.Write([]byte(password + "\n"))
				typed <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		typed <- errors.New("the terminal's echo was never turned off")
	}()
	out, err := becomeRun(bin, "", slave, args...)
	select {
	case terr := <-typed:
		if terr != nil {
			t.Fatalf("typing the password: %v\n%s", terr, out)
		}
	default:
		t.Fatalf("swarmrun ended before it read the password: %v\n%s", err, out)
	}
	return out, err
}

// openPTY opens a new pseudo-terminal pair (/dev/ptmx, unlocked).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}
