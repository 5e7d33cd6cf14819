//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const faultNet = 71

// TestFaultLinkCut cuts one host's link (every packet dropped in its
// namespace) while a step runs on three hosts: that host is reported
// UNREACHABLE (exit code 3), the others finish the play, nothing is
// half-written, and once the link is back the next run converges.
func TestFaultLinkCut(t *testing.T) {
	l := startLab(t, faultNet, 3, false)
	// Keepalives every second, as a user would set for a flaky network.
	fast := l.InventoryWith(t, filepath.Join(t.TempDir(), "inventory"), func(inv string) string {
		return strings.Replace(inv, "ansible_ssh_common_args='", "ansible_ssh_common_args='-o ServerAliveInterval=1 ", 1)
	})
	pb := e2eData(t, "faults", "linkcut.star")

	cmd := exec.Command(l.Bin, "play", pb, "-i", fast, "--output", "json")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "slow step started on h2", func() error {
		_, err := l.SSH("h2", "test -e /root/fault-started")
		return err
	})
	ns := fmt.Sprintf("srlab%d-h2", faultNet)
	cut := func(op string) {
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			if b, err := exec.Command("ip", "netns", "exec", ns, "iptables", op, chain, "-j", "DROP").CombinedOutput(); err != nil {
				t.Fatalf("iptables %s %s in %s: %v %s", op, chain, ns, err, b)
			}
		}
	}
	cut("-I")
	restored := false
	defer func() {
		if !restored {
			cut("-D")
		}
	}()
	werr := waitOrKill(t, cmd, 3*time.Minute, "the run did not end with a host cut off", out.String)
	r := parsePlay(out.String(), werr)
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit %v, want 3 (a host unreachable, none failed)\n%s", werr, out.String())
	}
	if got := r.With("unreachable"); len(got) != 1 || !strings.HasSuffix(got[0], "@ h2") || !strings.HasPrefix(got[0], "slow") {
		t.Errorf("unreachable: %v", got)
	}
	if got := r.With("failed"); len(got) != 0 {
		t.Errorf("failed: %v", got)
	}
	for _, h := range []string{"h1", "h3"} {
		if c := r.Recap[h]; c["changed"] != 3 || c["failed"] != 0 {
			t.Errorf("recap %s: %v", h, c)
		}
	}
	cut("-D")
	restored = true
	if got, _ := l.SSH("h2", "cat /root/fault-after 2>/dev/null; ls -a /root | grep -c swarmrun-; true"); trim(got) != "0" {
		t.Errorf("h2 after the cut: %q (want no later file, no temporary file)", got)
	}
	again := l.MustPlay(t, pb)
	if c := again.Recap["h2"]; c["failed"] != 0 || c["unreachable"] != 0 {
		t.Errorf("next run on h2: %v", c)
	}
	if got := trim(l.MustSSH(t, "h2", "cat /root/fault-after")); got != "2" {
		t.Errorf("next run did not converge on h2: %q", got)
	}
}

// TestFaultSIGINT interrupts a run while a long command runs on 20
// hosts: swarmrun exits 130 (documented) without waiting for the
// commands, the remote commands end on every host, and no later step ran.
func TestFaultSIGINT(t *testing.T) {
	const hosts = 20
	l := startLab(t, faultNet+1, hosts, false)
	pb := e2eData(t, "faults", "sigint.star")
	cmd := exec.Command(l.Bin, "play", pb, "-i", l.Inventory, "--output", "json")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		eventually(t, 2*time.Minute, "long step started on "+h.Name, func() error {
			_, err := l.SSH(h.Name, "test -e /root/sigint-started")
			return err
		})
	}
	cmd.Process.Signal(os.Interrupt)
	werr := waitOrKill(t, cmd, time.Minute, "swarmrun did not stop within a minute of SIGINT", out.String)
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130\n%s", werr, out.String())
	}
	for _, h := range l.Hosts {
		eventually(t, 30*time.Second, "remote command ended on "+h.Name, func() error {
			got, _ := l.SSH(h.Name, "pgrep -f 'sleep [3]01' || true; test -e /root/sigint-after && echo after-step-ran; true")
			if trim(got) != "" {
				return fmt.Errorf("%s", got)
			}
			return nil
		})
	}
}

// TestFaultDockerdKilledDuringRestart kills the new dockerd right after
// daemon_json restarted it: the step fails naming the cause, the previous
// daemon.json is back and Docker answers again, and the next run (nothing
// killed) converges.
func TestFaultDockerdKilledDuringRestart(t *testing.T) {
	l := startLab(t, faultNet+2, 1, true)
	pb := e2eData(t, "faults", "dockerd.star")
	l.MustPlay(t, pb, "-e", "size=10m")
	before := l.MustSSH(t, "h1", "md5sum /etc/docker/daemon.json")
	// On the host: wait for dockerd to be replaced, then kill the new one
	// once (its restart command succeeded; the engine then dies).
	l.MustSSH(t, "h1", `old=$(pgrep -xo dockerd); nohup sh -c '
i=0; while [ $i -lt 600 ]; do n=$(pgrep -xo dockerd); if [ -n "$n" ] && [ "$n" != "`+"$0"+`" ]; then sleep 0.5; kill -9 $n; exit 0; fi; sleep 0.1; i=$((i+1)); done' "$old" >/dev/null 2>&1 &`)
	r := l.Play(t, pb, "-e", "size=20m")
	if r.Err == nil || len(r.With("failed")) != 1 {
		t.Fatalf("want the step to fail:\n%s", r.Out)
	}
	if msg := r.Results[0].Msg; !strings.Contains(msg, "did not come back") || !strings.Contains(msg, "previous file was restored") {
		t.Errorf("message: %s", msg)
	}
	if after := l.MustSSH(t, "h1", "md5sum /etc/docker/daemon.json"); after != before {
		t.Errorf("daemon.json not restored: %s, was %s", after, before)
	}
	eventually(t, time.Minute, "docker answers", func() error {
		_, err := l.SSH("h1", "docker info >/dev/null")
		return err
	})
	again := l.MustPlay(t, pb, "-e", "size=20m")
	if got := again.With("changed"); len(got) != 1 {
		t.Errorf("next run: changed %v", got)
	}
	if got := l.MustSSH(t, "h1", "grep -c 20m /etc/docker/daemon.json"); trim(got) != "1" {
		t.Errorf("next run did not converge: %s", got)
	}
}

// TestFaultDiskFull copies a file bigger than the free space (a 64 KiB
// tmpfs) over an existing one: the step fails naming the cause, the old
// file is intact, no temporary file is left, and a copy that fits then
// converges.
func TestFaultDiskFull(t *testing.T) {
	l := startLab(t, faultNet, 1, false) // tests run one after the other
	pb := e2eData(t, "faults", "diskfull.star")
	l.MustSSH(t, "h1", "mkdir -p /mnt/small && mount -t tmpfs -o size=64k tmpfs /mnt/small")
	l.MustPlay(t, pb, "-e", "bytes=1000")
	r := l.Play(t, pb, "-e", "bytes=200000")
	if r.Err == nil || len(r.With("failed")) != 1 || !strings.Contains(strings.ToLower(r.Results[0].Msg), "no space left") {
		t.Fatalf("want a failure naming the full disk:\n%s", r.Out)
	}
	if got := trim(l.MustSSH(t, "h1", "wc -c < /mnt/small/data; ls -A /mnt/small")); got != "1001\ndata" {
		t.Errorf("after the failed copy: %q (want the old file, nothing else)", got)
	}
	l.MustPlay(t, pb, "-e", "bytes=2000")
	if got := trim(l.MustSSH(t, "h1", "wc -c < /mnt/small/data")); got != "2001" {
		t.Errorf("next run did not converge: %q", got)
	}
}

// TestFaultPacketLoss drops 10 % of the packets of 100 hosts (in each
// host's namespace, both ways) from the second step on: the run finishes,
// the recap accounts for every step on every host exactly, and with the
// loss gone the next run converges.
func TestFaultPacketLoss(t *testing.T) {
	const hosts, steps = 100, 5
	l := startLab(t, faultNet+1, hosts, false) // tests run one after the other
	pb := e2eData(t, "faults", "loss.star")
	loss := func(op string) {
		for i := 1; i <= hosts; i++ {
			ns := fmt.Sprintf("srlab%d-h%d", faultNet+1, i)
			for _, chain := range []string{"INPUT", "OUTPUT"} {
				args := []string{"netns", "exec", ns, "iptables", op, chain, "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP"}
				if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
					t.Fatalf("%v: %v %s", args, err, b)
				}
			}
		}
	}
	cmd := exec.Command(l.Bin, "play", pb, "-i", l.Inventory, "--output", "json", "-e", "v=1")
	var out syncBuffer // read while the run writes
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "first step done", func() error {
		if strings.Count(out.String(), `"task":"pause"`) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	loss("-I")
	werr := waitOrKill(t, cmd, 10*time.Minute, "the run did not finish under 10 %% packet loss", out.String)
	loss("-D")
	r := parsePlay(out.String(), werr)
	t.Logf("run under loss: %s, exit %v, unreachable %d, failed %d", time.Since(t0).Round(time.Millisecond), werr, len(r.With("unreachable")), len(r.With("failed")))
	if len(r.Recap) != hosts {
		t.Fatalf("recap has %d hosts, want %d", len(r.Recap), hosts)
	}
	perHost := map[string]int{}
	for _, x := range r.Results {
		perHost[x.Host]++
	}
	for h, c := range r.Recap {
		total := c["ok"] + c["failed"] + c["unreachable"] + c["skipped"]
		if total != perHost[h] || (c["failed"]+c["unreachable"] == 0 && total != steps) {
			t.Errorf("%s: recap %v, %d results", h, c, perHost[h])
		}
	}
	again := l.MustPlay(t, pb, "-e", "v=1")
	for h, c := range again.Recap {
		if c["failed"]+c["unreachable"] != 0 {
			t.Errorf("next run on %s: %v", h, c)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFaultSSHDKilledDuringWrite kills the host's sshd session processes
// while a 40 MB file is being written over an old one: the host is
// UNREACHABLE, the old file is intact (never half-written), and the next
// run writes the file and leaves no temporary file behind.
func TestFaultSSHDKilledDuringWrite(t *testing.T) {
	l := startLab(t, faultNet+2, 1, false) // tests run one after the other
	pb := e2eData(t, "faults", "sshdkill.star")
	l.MustSSH(t, "h1", "printf old > /root/big")
	// A watcher outside any session: when the temporary file appears, kill
	// every sshd but the listener.
	l.MustSSH(t, "h1", `setsid sh -c 'i=0; while [ $i -lt 3000 ]; do if ls -a /root | grep -q swarmrun-; then pkill -9 -P "$(pgrep -xo sshd)"; exit 0; fi; sleep 0.01; i=$((i+1)); done' >/dev/null 2>&1 < /dev/null &`)
	r := l.Play(t, pb, "-e", "fill=a")
	if got := r.With("unreachable"); len(got) != 1 {
		t.Fatalf("want h1 unreachable:\n%s", r.Out)
	}
	if got := trim(l.MustSSH(t, "h1", "cat /root/big | head -c 10")); got != "old" {
		t.Errorf("old file not intact: %q", got)
	}
	l.MustPlay(t, pb, "-e", "fill=b")
	if got := trim(l.MustSSH(t, "h1", "head -c 3 /root/big; wc -c < /root/big; ls -a /root | grep -c swarmrun-; true")); got != "bbb40000001\n0" {
		t.Errorf("next run: %q (want the new file and no temporary file)", got)
	}
}

// waitOrKill waits for cmd; after timeout it kills it and fails the test
// with what (a Fatalf format) and the output so far.
func waitOrKill(t *testing.T, cmd *exec.Cmd, timeout time.Duration, what string, out func() string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		t.Fatalf(what+":\n%s", out())
		return nil
	}
}
