//go:build e2e

package e2e

import (
	"testing"
)

// TestAddNode: a swarm made by site.star on the manager only (--limit), then
// add-node.star prepares the second host and joins it; run again, it
// changes nothing.
func TestAddNode(t *testing.T) {
	l := startLab(t, 39, 2, true)
	vars := append(l.WebSecret("e2e-add-node-0001"), "-e", `{"swarm_stacks": []}`)
	l.MustPlay(t, playbook(t, "site.star"), append(vars, "--limit", "h1")...)
	if n := trim(l.MustSSH(t, "h1", "docker node ls -q | wc -l")); n != "1" {
		t.Fatalf("%s nodes after site.star --limit h1, want 1", n)
	}

	addNode := playbook(t, "add-node.star")
	check := l.MustPlay(t, addNode, append(vars, "-e", "node=h2", "--check")...)
	run := l.MustPlay(t, addNode, append(vars, "-e", "node=h2")...)
	samePrediction(t, "add-node.star", check, run)
	// The existing node lets the new one in (site.star --limit h1 knew no peer).
	if n := trim(l.MustSSH(t, "h1", "ufw status | grep -c '^2377/tcp .*ALLOW .*198\\.18\\.39\\.12 ' || true")); n != "1" {
		t.Errorf("h1's firewall does not allow h2 on 2377:\n%s", l.MustSSH(t, "h1", "ufw status"))
	}
	nodes := l.MustSSH(t, "h1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}' | sort")
	if nodes != "h1 Ready Leader\nh2 Ready \n" {
		t.Errorf("docker node ls = %q", nodes)
	}
	if lbl := trim(l.MustSSH(t, "h1", "docker node inspect h2 --format '{{index .Spec.Labels \"tier\"}}'")); lbl != "app" {
		t.Errorf("h2 label tier = %q", lbl)
	}
	if again := l.MustPlay(t, addNode, append(vars, "-e", "node=h2")...); len(again.With("changed")) != 0 {
		t.Errorf("second add-node changed %v", again.With("changed"))
	}
}
