//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPreflight: preflight.star passes on a good lab; a port dropped on one
// host stops site.star before any swarm step, naming the pair and the port;
// a duplicate hostname and an MTU too small for VXLAN are each caught.
func TestPreflight(t *testing.T) {
	l := startLab(t, 50, 3, true)
	root := repoRoot(t)
	pre := filepath.Join(root, "playbooks", "preflight.star")

	good := l.MustPlay(t, pre)
	if got := good.With("changed"); len(got) != 0 {
		t.Errorf("preflight changed %v", got)
	}
	// 2 managers' ports checked by the 2 workers, 4 checks on every pair + esp
	// (the example network is encrypted): 2 + 6*5.
	if !strings.Contains(good.Out, "preflight: 32 checks between 3 nodes, 0 failed") {
		t.Errorf("matrix:\n%s", good.Out)
	}
	if !strings.Contains(good.Out, "no IPVS in the kernel") {
		t.Errorf("the missing IPVS is not reported:\n%s", good.Out)
	}
	if out := l.MustSSH(t, "h2", "pgrep -f '^swarmrun-preflight' || true"); trim(out) != "" {
		t.Errorf("the probe listener still runs on h2: %s", out)
	}

	// A port dropped on h2 (raw table: ufw leaves it alone): site.star stops
	// before the swarm.
	l.MustSSH(t, "h2", "iptables -t raw -I PREROUTING -p tcp --dport 7946 -j DROP")
	t.Setenv("WEB_API_KEY", "e2e-preflight-0001")
	site := l.Play(t, filepath.Join(root, "playbooks", "site.star"), "-e", `{"swarm_secrets": [{"name": "web_api_key", "env": "WEB_API_KEY"}]}`)
	if site.Err == nil {
		t.Fatalf("site.star passed with 7946/tcp dropped on h2:\n%s", site.Out)
	}
	for _, want := range []string{"h1 -> h2 7946/tcp", "h3 -> h2 7946/tcp", "preflight failed, the swarm was not touched"} {
		if !strings.Contains(site.Out, want) {
			t.Errorf("site.star output lacks %q:\n%s", want, site.Out)
		}
	}
	if strings.Contains(site.Out, "h1 -> h3 7946/tcp") || strings.Contains(site.Out, "h2 -> h1 7946/tcp:") {
		t.Errorf("unblocked pairs reported as failed:\n%s", site.Out)
	}
	for _, r := range site.Results {
		if strings.HasPrefix(r.Task, "swarm init") || strings.HasPrefix(r.Task, "join") {
			t.Errorf("a swarm step ran: %s @ %s", r.Task, r.Host)
		}
	}
	if st := trim(l.MustSSH(t, "h1", "docker info --format '{{.Swarm.LocalNodeState}}'")); st != "inactive" {
		t.Errorf("h1 swarm state %q after a failed preflight", st)
	}
	l.MustSSH(t, "h2", "iptables -t raw -D PREROUTING -p tcp --dport 7946 -j DROP")

	// Duplicate hostname.
	l.MustSSH(t, "h3", "hostname h2")
	dup := l.Play(t, pre)
	if dup.Err == nil || !strings.Contains(dup.Out, "hostname h2 is shared by h2, h3") {
		t.Errorf("duplicate hostname not caught (%v):\n%s", dup.Err, dup.Out)
	}
	l.MustSSH(t, "h3", "hostname h3")

	// An MTU too small for the overlay (1450 + 50 VXLAN bytes).
	l.MustSSH(t, "h3", "ip link set eth0 mtu 1400")
	small := l.Play(t, pre)
	for _, want := range []string{"h1 -> h3 mtu: a 1500-byte packet with DF set", "h3 -> h1 mtu: a 1500-byte packet with DF set"} {
		if small.Err == nil || !strings.Contains(small.Out, want) {
			t.Errorf("small MTU: want %q (%v):\n%s", want, small.Err, small.Out)
		}
	}
	if strings.Contains(small.Out, "h1 -> h2 mtu") {
		t.Errorf("h1-h2 has a full MTU:\n%s", small.Out)
	}
	l.MustSSH(t, "h3", "ip link set eth0 mtu 1500")
	l.MustPlay(t, pre)
}
