//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const liveNet = 60

// TestLiveCluster is the live-cluster safety suite on one lab: 3 managers
// (h1-h3), 2 workers (h4, h5) and a spare host (h6) for add-node, the web
// stack with 2 replicas probed every 200 ms and `docker node ls` polled on
// the managers every 200 ms during each operation.
func TestLiveCluster(t *testing.T) {
	l := startLab(t, liveNet, 6, true)
	threeManagers(t, l)
	root := repoRoot(t)
	site := filepath.Join(root, "playbooks", "site.star")
	t.Setenv("WEB_API_KEY", "e2e-live-value-0001")
	base := []string{"-e", `{"swarm_secrets": [{"name": "web_api_key", "env": "WEB_API_KEY"}]}`, "--limit", "all:!h6"}
	l.MustPlay(t, site, base...)
	eventually(t, 90*time.Second, "web stack answering with 2 replicas", func() error {
		if n, err := probeWeb(l); err != nil || n < 2 {
			return fmt.Errorf("%d answering: %v", n, err)
		}
		return nil
	})
	if nodes := l.MustSSH(t, "h1", "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}' | sort"); nodes != "h1 Leader\nh2 Reachable\nh3 Reachable\nh4 \nh5 \n" {
		t.Fatalf("docker node ls = %q", nodes)
	}

	t.Run("RollingDaemonJSON", func(t *testing.T) { testRollingDaemonJSON(t, l, site, base) })
	t.Run("QuorumGuard", func(t *testing.T) { testQuorumGuard(t, l, root) })
	t.Run("FirstManagerDown", func(t *testing.T) { testFirstManagerDown(t, l, root, base) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, l, root, base) })
	t.Run("RebootCheck", func(t *testing.T) { testRebootCheck(t, l, root) })
	t.Run("BackupAutolock", func(t *testing.T) { testBackupAutolock(t, l, root) })
	t.Run("StackAbsent", func(t *testing.T) { testStackAbsent(t, l, root) })
}

// testRebootCheck: the clone lab cannot reboot (fresh systemd hosts can:
// the lead runs reboot.star there), but --check shows the batches in order
// (workers first, the leader last) and that each would reboot, touching nothing.
func testRebootCheck(t *testing.T, l *Lab, root string) {
	pids := func() string {
		out := ""
		for _, h := range []string{"h1", "h2", "h3", "h4", "h5", "h6"} {
			out += l.MustSSH(t, h, "cat /var/run/docker.pid; cat /proc/sys/kernel/random/boot_id")
		}
		return out
	}
	before := pids()
	leader := trim(l.MustSSH(t, "h2", "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}' | grep Leader | cut -d' ' -f1"))
	r := l.MustPlay(t, filepath.Join(root, "playbooks", "reboot.star"), "--check")
	var batches []string
	for _, line := range strings.Split(r.Out, "\n") {
		if i := strings.Index(line, "reboot, one node at a time: batch "); i >= 0 {
			batches = append(batches, line[strings.LastIndex(line, ": ")+2:strings.LastIndex(line, "\"")])
		}
	}
	if len(batches) != 6 || batches[5] != leader || !strings.HasPrefix(strings.Join(batches[:3], ","), "h4,h5,h6") {
		t.Errorf("batches %v, want the workers h4 h5 h6 first and the leader %s last\n%s", batches, leader, r.Out)
	}
	var would []string
	for _, x := range r.Results {
		if x.Module == "reboot" && x.Status == "changed" && x.Msg == "would reboot" {
			would = append(would, x.Host)
		}
	}
	if len(would) != 6 {
		t.Errorf("would reboot %v, want all six", would)
	}
	up := l.MustPlay(t, filepath.Join(root, "playbooks", "upgrade.star"), "--check", "-e", "packages=docker.io", "-e", "reboot=always")
	n := 0
	for _, x := range up.Results {
		if x.Module == "reboot" && x.Msg == "would reboot" {
			n++
		}
	}
	if n != 6 || !strings.Contains(up.Out, "upgrade, one node at a time: batch 6/6: "+leader) {
		t.Errorf("upgrade.star --check: %d would reboot, want 6\n%s", n, up.Out)
	}
	if after := pids(); after != before {
		t.Errorf("--check touched the hosts")
	}
}

// checkRunAgain plays a playbook with --check, then for real, then again:
// the check predicts the run's changes exactly, the second run changes nothing.
func checkRunAgain(t *testing.T, l *Lab, pb string, args ...string) *PlayRun {
	t.Helper()
	check := l.MustPlay(t, pb, append(args, "--check")...)
	run := l.MustPlay(t, pb, args...)
	if got, want := sorted(run.With("changed")), sorted(check.With("changed")); len(got) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: --check predicted %v\nthe run changed %v", filepath.Base(pb), want, got)
	}
	if again := l.MustPlay(t, pb, args...); len(again.With("changed")) != 0 {
		t.Errorf("%s: re-run changed %v", filepath.Base(pb), again.With("changed"))
	}
	return run
}

// testLifecycle: remove-node, join-token and CA rotation (the old worker
// token refused, add-node still works), autolock with a restart and an
// unlock, all while the web service is probed and the managers polled.
func testLifecycle(t *testing.T, l *Lab, root string, base []string) {
	pb := func(name string) string { return filepath.Join(root, "playbooks", name) }
	quorum := pollQuorum(t, l, "h1", "h2", "h3")
	t0 := time.Now()
	failed := probeDuring(t, l, func() {
		checkRunAgain(t, l, pb("remove-node.star"), "-e", "node=h6")
		if out := l.MustSSH(t, "h2", "docker node ls --format '{{.Hostname}}' | sort | tr '\\n' ' '"); out != "h1 h2 h3 h4 h5 " {
			t.Errorf("nodes after remove-node h6: %q", out)
		}
		if st := trim(l.MustSSH(t, "h6", "docker info --format '{{.Swarm.LocalNodeState}}'")); st != "inactive" {
			t.Errorf("h6 swarm state %q after remove-node", st)
		}
		t.Logf("remove-node: %s", time.Since(t0).Round(time.Second))

		old := trim(l.MustSSH(t, "h2", "docker swarm join-token -q worker"))
		t1 := time.Now()
		rot := l.MustPlay(t, pb("rotate-join-tokens.star"), "-e", "rotate_ca=true")
		t.Logf("token + CA rotation: %s", time.Since(t1).Round(time.Second))
		newTok := trim(l.MustSSH(t, "h2", "docker swarm join-token -q worker"))
		if newTok == old || strings.Contains(rot.Out, newTok) || strings.Contains(rot.Out, old) {
			t.Errorf("rotation: token unchanged or printed\n%s", rot.Out)
		}
		if out, err := l.SSH("h6", "timeout 60 docker swarm join --token "+old+" 198.18.60.12:2377"); err == nil {
			t.Errorf("the old worker token still joins: %s", out)
		} else {
			t.Logf("old token refused: %s", trim(out))
		}
		checkRunAgain(t, l, pb("add-node.star"), base[0], base[1], "-e", "node=h6")
		if st := trim(l.MustSSH(t, "h2", "docker node inspect h6 --format '{{.Status.State}}'")); st != "ready" {
			t.Errorf("h6 after add-node with the new token: %q", st)
		}

		lock := checkRunAgain(t, l, pb("autolock.star"))
		key := trim(l.MustSSH(t, "h2", "docker swarm unlock-key -q"))
		if !strings.HasPrefix(key, "SWMKEY-") || strings.Contains(lock.Out, key) {
			t.Fatalf("unlock key %q missing or printed\n%s", key, lock.Out)
		}
		// A follower: restarting the leader by hand would leave the swarm
		// without one until an election (that is what the playbooks avoid).
		leader := trim(l.MustSSH(t, "h2", "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}' | grep Leader | cut -d' ' -f1"))
		m := "h3"
		if leader == "h3" {
			m = "h2"
		}
		l.MustSSH(t, m, "service docker restart")
		eventually(t, 60*time.Second, m+" locked after its restart", func() error {
			if st := trim(l.MustSSH(t, m, "docker info --format '{{.Swarm.LocalNodeState}}'")); st != "locked" {
				return fmt.Errorf("%s is %q", m, st)
			}
			return nil
		})
		t.Setenv("SWARM_UNLOCK_KEY", key)
		un := checkRunAgain(t, l, pb("autolock.star"), "-e", "unlock=true")
		if strings.Contains(un.Out, key) || strings.Join(un.With("changed"), ",") != "unlock locked managers @ "+m {
			t.Errorf("unlock: changed %v, or the key printed\n%s", un.With("changed"), un.Out)
		}
		startDocker(t, l, m) // already started: waits until Ready
	})
	lost, polls := quorum()
	t.Logf("lifecycle (%s): %d failed web probes, %d of %d node-ls polls unanswered", time.Since(t0).Round(time.Second), failed, lost, polls)
	if failed > 0 || lost > 0 {
		t.Errorf("%d failed probes, %d unanswered polls", failed, lost)
	}
}

// testBackupAutolock: backup.star on the autolocked swarm (the followers,
// cold, one at a time, unlocked after their restart) while probed.
func testBackupAutolock(t *testing.T, l *Lab, root string) {
	dest := t.TempDir()
	key := trim(l.MustSSH(t, "h2", "docker swarm unlock-key -q"))
	t.Setenv("SWARM_UNLOCK_KEY", key)
	unlock := []string{"-e", "unlock_key_env=SWARM_UNLOCK_KEY"}
	quorum := pollQuorum(t, l, "h1", "h2", "h3")
	t0 := time.Now()
	var r *PlayRun
	failed := probeDuring(t, l, func() {
		r = l.MustPlay(t, filepath.Join(root, "playbooks", "backup.star"), append(unlock, "-e", "backup_dir="+dest)...)
	})
	lost, polls := quorum()
	t.Logf("backup of the followers (autolock): %s, %d failed web probes, %d of %d node-ls polls unanswered", time.Since(t0).Round(time.Second), failed, lost, polls)
	if failed > 0 || lost > 0 || strings.Contains(r.Out, key) || strings.Contains(r.Out, "hot archive") {
		t.Errorf("backup: %d failed probes, %d unanswered polls, key printed %v\n%s", failed, lost, strings.Contains(r.Out, key), r.Out)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		a := filepath.Join(dest, h, "var", "backups", "swarm-"+h+".tar.gz")
		if _, err := os.Stat(a); err == nil {
			return
		}
	}
	t.Errorf("no archive fetched\n%s", r.Out)
}

// testStackAbsent: a network in use is not removed; stack(state = "absent")
// removes the web stack; then the network can go.
func testStackAbsent(t *testing.T, l *Lab, root string) {
	dir := t.TempDir()
	lib := filepath.Join(root, "playbooks", "lib", "swarm.star")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(fmt.Sprintf("load(%q, \"healthy_manager\")\nvia = healthy_manager(hosts(\"managers\"))\n%s\n", lib, body)), 0o644)
		return p
	}
	netGone := write("net.star", `network(via, name = "app", state = "absent")`)
	r := l.Play(t, netGone)
	if exitCode(r.Err) != 2 || !strings.Contains(r.Out, "network: remove network app: used by services web_web") {
		t.Errorf("removing a network in use: exit %d\n%s", exitCode(r.Err), r.Out)
	}
	checkRunAgain(t, l, write("stack.star", `stack(via, name = "web", state = "absent")`))
	if out := trim(l.MustSSH(t, "h2", "docker service ls -q | wc -l")); out != "0" {
		t.Errorf("%s services left after stack absent", out)
	}
	checkRunAgain(t, l, netGone)
}

// threeManagers rewrites the lab's inventory: h1-h3 managers, the rest workers.
func threeManagers(t *testing.T, l *Lab) {
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	var managers, out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "h2 ") || strings.HasPrefix(line, "h3 ") {
			managers = append(managers, line)
			continue
		}
		out = append(out, line)
	}
	text := strings.Join(out, "\n")
	h1 := strings.Index(text, "\nh1 ")
	end := h1 + 1 + strings.Index(text[h1+1:], "\n")
	text = text[:end+1] + strings.Join(managers, "\n") + "\n" + text[end+1:]
	if err := os.WriteFile(l.Inventory, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerStarts counts how often dockerd has started on a host (its log).
func dockerStarts(t *testing.T, l *Lab, host string) int {
	n, err := strconv.Atoi(trim(l.MustSSH(t, host, "grep -c 'API listen on /var/run/docker.sock' /var/log/docker.log || true")))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testRollingDaemonJSON(t *testing.T, l *Lab, site string, base []string) {
	hostsUp := []string{"h1", "h2", "h3", "h4", "h5"}
	starts := map[string]int{}
	for _, h := range hostsUp {
		starts[h] = dockerStarts(t, l, h)
	}
	change := append([]string{"-e", `{"daemon_json": {"log-opts": {"max-size": "15m", "max-file": "4"}}}`}, base...)
	check := l.MustPlay(t, site, append(change, "--check")...)
	var run *PlayRun
	quorum := pollQuorum(t, l, "h1", "h2", "h3")
	t0 := time.Now()
	failed := probeDuring(t, l, func() { run = l.MustPlay(t, site, change...) })
	window := time.Since(t0)
	lost, polls := quorum()
	t.Logf("rolling daemon.json on 5 nodes: %s, %d failed web probes, %d of %d node-ls polls unanswered", window.Round(time.Second), failed, lost, polls)
	if failed > 0 {
		t.Errorf("%d web probes failed during the rolling restart", failed)
	}
	if lost > 0 {
		t.Errorf("the swarm did not answer %d of %d polls (quorum lost?)", lost, polls)
	}
	// --check predicts every change but one: the leader's promotion back,
	// which --check sees as no change since the demotion was only predicted
	// (documented in lib/docker.star).
	want := sorted(append(check.With("changed"), "promote h1 back @ h2"))
	if got := sorted(run.With("changed")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("--check predicted (plus the promotion) %v\nthe run changed %v", want, got)
	}
	// One node at a time, workers first, the leader (h1) last.
	var order []string
	for _, r := range run.Results {
		if strings.HasPrefix(r.Task, "docker daemon.json on ") && r.Status == "changed" {
			order = append(order, r.Host)
		}
	}
	if len(order) != 5 || !(order[0] == "h4" || order[0] == "h5") || !(order[1] == "h4" || order[1] == "h5") || order[4] != "h1" {
		t.Errorf("restart order %v, want workers first, the leader h1 last\n%s", order, run.Out)
	}
	for _, h := range hostsUp {
		if n := dockerStarts(t, l, h) - starts[h]; n != 1 {
			t.Errorf("dockerd started %d times on %s, want 1", n, h)
		}
	}
	if again := l.MustPlay(t, site, change...); len(again.With("changed")) != 0 {
		t.Errorf("re-run changed %v", again.With("changed"))
	}
}

// testQuorumGuard: with h2's Docker stopped, restarting Docker on h3 (or
// demoting it) would leave one of three managers: refused before h3 is touched.
func testQuorumGuard(t *testing.T, l *Lab, root string) {
	l.MustSSH(t, "h2", "service docker stop")
	defer startDocker(t, l, "h2")
	eventually(t, 60*time.Second, "h2 seen down", func() error {
		out, _ := l.SSH("h1", "docker node inspect h2 --format '{{.Status.State}} {{.ManagerStatus.Reachability}}'")
		if trim(out) != "down unreachable" {
			return fmt.Errorf("h2: %q", out)
		}
		return nil
	})
	pid := trim(l.MustSSH(t, "h3", "cat /var/run/docker.pid; sha256sum /etc/docker/daemon.json"))
	pb := filepath.Join(t.TempDir(), "guard.star")
	os.WriteFile(pb, []byte(fmt.Sprintf(`load(%q, "docker_daemon")
docker_daemon(hosts("h3"), hosts("managers"))
`, filepath.Join(root, "playbooks", "lib", "docker.star"))), 0o644)
	r := l.Play(t, pb, "-e", `{"daemon_json": {"log-opts": {"max-size": "16m"}}}`)
	want := "refusing to restart Docker on h3: 2 of 3 managers are Ready (not Ready now: h2); without h3 only 1 would be, and raft needs 2"
	if exitCode(r.Err) != 2 || !strings.Contains(r.Out, want) {
		t.Errorf("guard: exit %d, want %q in\n%s", exitCode(r.Err), want, r.Out)
	}
	if after := trim(l.MustSSH(t, "h3", "cat /var/run/docker.pid; sha256sum /etc/docker/daemon.json")); after != pid {
		t.Errorf("h3 was touched: %q -> %q", pid, after)
	}
	os.WriteFile(pb, []byte(`node(hosts("h1"), node = "h3", role = "worker")`), 0o644)
	r = l.Play(t, pb)
	if exitCode(r.Err) != 2 || !strings.Contains(r.Out, "refusing to demote h3") {
		t.Errorf("demote: exit %d\n%s", exitCode(r.Err), r.Out)
	}
	t.Logf("guard message: %s", want)
}

func startDocker(t *testing.T, l *Lab, host string) {
	l.MustSSH(t, host, "service docker start")
	eventually(t, 90*time.Second, host+" Ready again", func() error {
		out, _ := l.SSH("h3", "docker node inspect "+host+" --format '{{.Status.State}}'")
		if trim(out) != "ready" {
			return fmt.Errorf("%s: %q", host, out)
		}
		return nil
	})
}

// testFirstManagerDown: h1 (the inventory's first manager) has Docker
// stopped and refuses SSH; drain, rotate-secret, add-node and backup go
// through another manager.
func testFirstManagerDown(t *testing.T, l *Lab, root string, base []string) {
	l.MustSSH(t, "h1", "service docker stop")
	pid := strconv.Itoa(l.Host(t, "h1").PID)
	rule := []string{"-t", pid, "-n", "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset"}
	if out, err := runCmd(time.Minute, "nsenter", rule...); err != nil {
		t.Fatalf("blocking SSH to h1: %v\n%s", err, out)
	}
	defer func() {
		rule[4] = "-D"
		runCmd(time.Minute, "nsenter", rule...)
		startDocker(t, l, "h1")
	}()
	pb := func(name string) string { return filepath.Join(root, "playbooks", name) }
	// Until the managers see h1 down, the scheduler may still give it a task.
	eventually(t, 90*time.Second, "h1 seen down, a new leader and both web replicas", func() error {
		out, err := l.SSH("h2", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}' | grep -E 'Leader|^h1 '")
		if err != nil || !strings.Contains(out, "h1 Down Unreachable") || !strings.Contains(out, "Leader") {
			return fmt.Errorf("%v %s", err, out)
		}
		if n, err := probeWeb(l); err != nil || n < 2 {
			return fmt.Errorf("%d web replicas answer: %v", n, err)
		}
		return nil
	})
	quorum := pollQuorum(t, l, "h2", "h3")
	var runs []*PlayRun
	failed := probeDuring(t, l, func() {
		runs = append(runs, l.MustPlay(t, pb("drain.star"), "-e", "node=h4"))
		t.Setenv("NEW_WEB_API_KEY", "e2e-live-value-0002")
		runs = append(runs, l.MustPlay(t, pb("rotate-secret.star"), append(base, "-e", "secret=web_api_key", "-e", "value_env=NEW_WEB_API_KEY")...))
		runs = append(runs, l.MustPlay(t, pb("add-node.star"), base[0], base[1], "-e", "node=h6"))
		runs = append(runs, l.MustPlay(t, pb("backup.star"), "-e", "backup_dir="+t.TempDir()))
	})
	lost, polls := quorum()
	t.Logf("with h1 down: %d failed web probes, %d of %d node-ls polls unanswered", failed, lost, polls)
	if failed > 0 || lost > 0 {
		t.Errorf("%d failed probes, %d unanswered polls", failed, lost)
	}
	for _, r := range runs {
		for _, x := range r.Results {
			if x.Host == "h1" {
				t.Errorf("a step ran on the stopped manager h1: %+v", x)
			}
		}
	}
	if nodes := l.MustSSH(t, "h2", "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}}' | sort | grep -v '^h1 '"); nodes != "h2 Ready Active\nh3 Ready Active\nh4 Ready Active\nh5 Ready Active\nh6 Ready Active\n" {
		t.Errorf("nodes after the day-2 runs = %q", nodes)
	}
	if used := trim(l.MustSSH(t, "h2", "docker service inspect web_web --format '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}'")); used != "web_api_key_v2" {
		t.Errorf("web_web uses secret %q after rotation", used)
	}
	if !strings.Contains(runs[2].Out, `add-node: [\"h1\"] not up as swarm nodes now`) {
		t.Errorf("add-node with h1 down: want h1 named as not up (its firewall waits for site.star)\n%s", runs[2].Out)
	}
	if !strings.Contains(runs[3].Out, "hot archive of the swarm state on h") || !strings.Contains(runs[3].Out, "skipping h1") {
		t.Errorf("backup with h1 down: want hot archives (stopping a manager would lose the quorum) and h1 skipped\n%s", runs[3].Out)
	}
}

// quorumGapTicks is how many consecutive unanswered 200 ms ticks count as
// the swarm not answering (an election takes seconds: 20+ ticks here).
const quorumGapTicks = 3

// pollAnswer is one manager's latest `docker node ls`.
type pollAnswer struct {
	ok bool
	at time.Time
}

// pollQuorum runs `docker node ls` every 200 ms on each manager (one SSH
// session each) and, when called, stops and returns how many 200 ms ticks
// found every manager's latest poll failed (0 when no stretch of them was
// quorumGapTicks long; each is logged), and the number of ticks.
func pollQuorum(t *testing.T, l *Lab, managers ...string) func() (int, int) {
	t.Helper()
	var last sync.Map // manager -> its latest pollAnswer
	sessions := &pollSessions{stopped: make(chan struct{})}
	for _, m := range managers {
		go sessions.poll(l, m, &last)
	}
	var lost, total atomic.Int64
	var run, longest int // consecutive unanswered ticks (read after done)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitFirstAnswers(&last, len(managers))
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			total.Add(1)
			// Unanswered: every manager's latest poll failed (or none
			// finished for 5 s); a slow answer on a loaded machine is one.
			answered := false
			last.Range(func(_, v any) bool {
				a := v.(pollAnswer)
				answered = answered || (a.ok && time.Since(a.at) < 5*time.Second)
				return !answered
			})
			if answered {
				run = 0
			} else {
				run++
				longest = max(longest, run)
				lost.Add(1)
				t.Logf("no manager answered docker node ls at %s", time.Now().Format("15:04:05.000"))
			}
		}
	}()
	var once sync.Once
	end := func() {
		once.Do(func() {
			close(stop)
			<-done
			sessions.stop()
		})
	}
	t.Cleanup(end) // also when the test stops early
	return func() (int, int) {
		end()
		if longest > 0 {
			t.Logf("longest stretch without an answer: %d ticks (%d ms)", longest, longest*200)
		}
		// An election after a lost leader shows as seconds without an
		// answer; a single slow tick on this loaded machine is not that.
		if longest >= quorumGapTicks {
			return int(lost.Load()), int(total.Load())
		}
		return 0, int(total.Load())
	}
}

// waitFirstAnswers waits until every one of n managers has answered a poll
// (ssh and sudo start slowly on a loaded machine), at most 30 s.
func waitFirstAnswers(last *sync.Map, n int) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		seen := 0
		last.Range(func(_, _ any) bool { seen++; return true })
		if seen >= n {
			return
		}
	}
}

// pollSessions are the ssh sessions of pollQuorum, one per manager at a time.
type pollSessions struct {
	mu      sync.Mutex
	cmds    []*exec.Cmd
	stopped chan struct{}
}

// poll runs `docker node ls` every 200 ms on manager m, recording each answer
// in last; the ssh session is started again when it ends (the manager
// rebooted), so a manager that is back counts again.
func (s *pollSessions) poll(l *Lab, m string, last *sync.Map) {
	docker := "docker"
	if l.User != "" && l.User != "root" {
		docker = "sudo -n docker" // fresh hosts: a sudo user
	}
	script := "while sleep 0.2; do " + docker + " node ls -q >/dev/null 2>&1 && echo ok || echo fail; done"
	for {
		cmd := exec.Command("ssh", append(l.SSHArgs(m), script)...)
		out, err := cmd.StdoutPipe()
		if err == nil && s.add(cmd) {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				last.Store(m, pollAnswer{ok: sc.Text() == "ok", at: time.Now()})
			}
			cmd.Wait()
		}
		select {
		case <-s.stopped:
			return
		case <-time.After(time.Second):
		}
	}
}

// add starts cmd unless the sessions are stopped.
func (s *pollSessions) add(cmd *exec.Cmd) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopped:
		return false
	default:
	}
	if cmd.Start() != nil {
		return false
	}
	s.cmds = append(s.cmds, cmd)
	return true
}

// stop ends every session and keeps new ones from starting.
func (s *pollSessions) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.stopped)
	for _, c := range s.cmds {
		c.Process.Kill()
	}
}
