//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestFreshRollingReboot: reboot.star on a live 5-node swarm of fresh hosts
// (3 managers, 2 workers; Debian 12, whose docker.io has the CLI the quorum
// poll uses), which really reboot: one node at a time, workers first, the
// leader last, each drained and active again. The web stack (2 replicas) is
// probed every 200 ms and `docker node ls` polled on the managers every
// 200 ms: no probe may fail and the swarm must answer every poll.
func TestFreshRollingReboot(t *testing.T) {
	l := startLabArgs(t, 25, 5, "--fresh", "--distro", "debian-12", "--managers", "3")
	secrets := l.WebSecret("e2e-reboot-value-0001")
	site := playbook(t, "site.star")
	l.MustPlay(t, site, secrets...)
	webAnswers(t, l, 2*time.Minute, "after site.star")

	polls := pollQuorum(t, l, "h1", "h2", "h3")
	t0 := time.Now()
	var run *PlayRun
	failed := probeDuring(t, l, func() {
		run = l.MustPlay(t, playbook(t, "reboot.star"))
	})
	lost, total := polls()
	t.Logf("rolling reboot of 5 fresh hosts in %s: %d failed web probes, %d of %d quorum polls unanswered",
		time.Since(t0).Round(time.Second), failed, lost, total)
	if failed != 0 || lost != 0 {
		t.Errorf("rolling reboot: %d failed probes, %d unanswered polls", failed, lost)
	}
	var rebooted []string
	for _, r := range run.Results {
		if r.Module == "reboot" && r.Status == "changed" {
			rebooted = append(rebooted, r.Host)
		}
	}
	if len(rebooted) != 5 {
		t.Errorf("rebooted %v, want all 5 hosts\n%s", rebooted, run.Out)
	}
	status, _ := l.Swarmrun("lab", "status", "--dir", l.Dir)
	if n := strings.Count(status, " 2     running"); n != 5 {
		t.Errorf("lab status: %d hosts booted twice and running, want 5:\n%s", n, status)
	}
	if again := l.MustPlay(t, site, secrets...); len(again.With("changed")) != 0 {
		t.Errorf("site.star after the rolling reboot changed %v", again.With("changed"))
	}
}
