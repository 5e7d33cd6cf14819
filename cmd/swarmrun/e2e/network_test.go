//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPreflight: preflight.star passes on a good lab; a port dropped on one
// host stops site.star before any swarm step, naming the pair and the port;
// a duplicate hostname and an MTU too small for VXLAN are each caught.
func TestPreflight(t *testing.T) {
	l := startLab(t, 50, 3, true)
	pre := playbook(t, "preflight.star")

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
	site := l.Play(t, playbook(t, "site.star"), l.WebSecret("e2e-preflight-0001")...)
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

// netStack is TestNetworkFirewall's stack: the test image on every node,
// published in host mode on 8080 (public) and, as "admin", 8081 (internal), on an
// unencrypted overlay (this lab's kernel has no ESP, so an encrypted one
// carries no traffic here).
const netStack = `version: "3.8"
services:
  web:
    image: swarmrun/testweb:latest
    ports: [{target: 8080, published: 8080, protocol: tcp, mode: host}]
    networks: [plain]
    secrets: [{source: api_key, target: api_key}]
    deploy: {mode: global}
  admin:
    image: swarmrun/testweb:latest
    ports: [{target: 8080, published: 8081, protocol: tcp, mode: host}]
    networks: [plain]
    deploy: {mode: global}
networks:
  plain: {external: true}
secrets:
  api_key: {external: true, name: "${WEB_API_KEY_SECRET}"}
`

// netVars are TestNetworkFirewall's settings: the example's encrypted "app"
// network plus "plain", 8081 reachable only from the machine (the "admin
// network"), esp toggles the encryption of "app".
func netVars(net int, compose string, encrypted bool) string {
	return fmt.Sprintf(`{"swarm_secrets": [{"name": "web_api_key", "env": "WEB_API_KEY"}],
	 "swarm_networks": [{"name": "app", "driver": "overlay", "attachable": true, "encrypted": %v, "subnet": "10.210.0.0/24", "gateway": "10.210.0.1"},
	                    {"name": "plain", "driver": "overlay", "attachable": true, "subnet": "10.211.0.0/24", "gateway": "10.211.0.1"}],
	 "swarm_stacks": [{"name": "net", "compose": %q}],
	 "published_ports": [{"port": "8080", "from": "any", "comment": "web"}, {"port": "8081", "from": ["198.18.%d.1"], "comment": "admin"}]}`,
		encrypted, compose, net)
}

// outsider adds a network namespace on lab l's bridge at 198.18.K.200, not in
// the inventory, and removes it when the test ends (before the lab goes).
func outsider(t *testing.T, l *Lab) func(cmd string) (string, error) {
	t.Helper()
	ns, veth := fmt.Sprintf("srout%d", l.Net), fmt.Sprintf("srout%d-0", l.Net)
	setup := fmt.Sprintf(`set -e
ip netns add %[1]s
ip link add %[2]s type veth peer name eth0 netns %[1]s
ip link set %[2]s master srbr%[3]d up
ip -n %[1]s addr add 198.18.%[3]d.200/24 dev eth0
ip -n %[1]s link set eth0 up
ip -n %[1]s link set lo up`, ns, veth, l.Net)
	t.Cleanup(func() {
		runCmd(time.Minute, "sh", "-c", fmt.Sprintf("ip netns del %s; ip link del %s", ns, veth))
	})
	if out, err := runCmd(time.Minute, "sh", "-c", setup); err != nil {
		t.Fatalf("outsider: %v\n%s", err, out)
	}
	return func(cmd string) (string, error) {
		return runCmd(time.Minute, "nsenter", "--net=/run/netns/"+ns, "sh", "-c", cmd)
	}
}

// tcpOpen is a shell command that exits 0 when a TCP connection to addr:port
// is accepted within 3 s (bash's /dev/tcp; the hosts have no nc).
func tcpOpen(addr string, port int) string {
	return fmt.Sprintf("timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%d' 2>/dev/null", addr, port)
}

// udpSniffer prints "seen" when a UDP datagram carrying magic reaches this
// host's stack (a raw socket sees what passed INPUT, also on ports dockerd or
// the kernel's VXLAN socket hold), else "unseen" after 8 s.
const udpSniffer = `perl -MSocket -MIO::Select -e 'socket(my $s, PF_INET, SOCK_RAW, 17) or die $!; open(my $r, ">", "/tmp/sniff.ready"); close $r;
my $sel = IO::Select->new($s); my $end = time + 8;
while (time < $end) { next unless $sel->can_read(1); recv($s, my $b, 65535, 0); if (index($b, $ARGV[0]) >= 0) { print "seen\n"; exit } }
print "unseen\n"' `

// udpArrives reports whether UDP datagrams sent by send (a shell command
// run in sender) to lab host to reach that host.
func udpArrives(t *testing.T, l *Lab, to string, sender func(string) (string, error), port int, magic string) bool {
	t.Helper()
	res := make(chan string, 1)
	l.MustSSH(t, to, "rm -f /tmp/sniff.ready")
	go func() { out, _ := l.SSH(to, udpSniffer+magic); res <- trim(out) }()
	eventually(t, 20*time.Second, "sniffer on "+to, func() error {
		_, err := l.SSH(to, "test -e /tmp/sniff.ready")
		return err
	})
	send := fmt.Sprintf("for i in 1 2 3 4 5 6 7 8 9 10; do printf %s > /dev/udp/%s/%d; sleep 0.3; done", magic, l.Host(t, to).Addr, port)
	if out, err := sender("bash -c '" + send + "'"); err != nil {
		t.Fatalf("sending udp: %v %s", err, out)
	}
	return <-res == "seen"
}

// TestNetworkFirewall: after site.star, an outsider on the lab's bridge
// reaches SSH and the public web port but not 2377, 7946, 4789 or the
// internal published port, while the nodes (and the admin address) do; the
// cluster works (overlay traffic between nodes); --check predicts the
// firewall exactly; a re-run changes nothing; ESP rules follow the encrypted
// overlay; DOCKER-USER survives a Docker restart and a ufw reload.
func TestNetworkFirewall(t *testing.T) {
	l := startLab(t, 51, 3, true)
	site := playbook(t, "site.star")
	compose := writeFile(t, filepath.Join(t.TempDir(), "net.yml"), netStack)
	t.Setenv("WEB_API_KEY", "e2e-network-0001")
	vars := []string{"-e", netVars(l.Net, compose, true), "--diff"}
	out := outsider(t, l)
	if _, err := out(tcpOpen("198.18.51.11", 22)); err != nil {
		t.Fatalf("the outsider does not reach h1's SSH before the firewall: %v", err)
	}

	fw := func(r *PlayRun) map[string]string {
		m := map[string]string{}
		for _, x := range r.Results {
			if strings.HasPrefix(x.Task, "firewall:") {
				m[x.Task+" @ "+x.Host] = x.Status + "\n" + x.Diff
			}
		}
		return m
	}
	state := "ufw status verbose; iptables -S DOCKER-USER; sha256sum /etc/ufw/after.rules /etc/ufw/user.rules"
	check := l.MustCheck(t, state, site, vars...)
	run := l.MustPlay(t, site, vars...)
	if p, r := fw(check), fw(run); !reflect.DeepEqual(p, r) || len(p) != 6 {
		t.Errorf("--check predicted the firewall steps\n%v\nthe run did\n%v", p, r)
	}
	samePrediction(t, "site.star", check, run)
	if again := l.MustPlay(t, site, vars...); len(again.With("changed")) != 0 {
		t.Errorf("second run changed %v", again.With("changed"))
	}
	eventually(t, 90*time.Second, "net_web answering on every node", func() error {
		if n, err := probeWeb(l); err != nil || n != 3 {
			return fmt.Errorf("%d nodes answer: %v", n, err)
		}
		return nil
	})

	// The outsider: SSH and the public port yes; swarm ports and the
	// internal published port no. Positive controls from a node / the machine.
	for _, c := range []struct {
		addr string
		port int
		open bool
	}{{"198.18.51.11", 22, true}, {"198.18.51.12", 8080, true}, {"198.18.51.11", 2377, false},
		{"198.18.51.11", 7946, false}, {"198.18.51.12", 7946, false}, {"198.18.51.12", 8081, false}, {"198.18.51.13", 8081, false}} {
		_, err := out(tcpOpen(c.addr, c.port))
		if (err == nil) != c.open {
			t.Errorf("outsider -> %s:%d/tcp open = %v, want %v", c.addr, c.port, err == nil, c.open)
		}
	}
	l.MustSSH(t, "h2", tcpOpen("198.18.51.11", 2377)+" && "+tcpOpen("198.18.51.13", 7946))
	if body, err := runCmd(time.Minute, "curl", "-sf", "-m", "5", "http://198.18.51.12:8081/"); err != nil || !strings.Contains(body, `"hostname"`) {
		t.Errorf("the admin address does not reach the internal port 8081: %v %s", err, body)
	}
	if body, err := out("curl -sf -m 5 http://198.18.51.13:8080/"); err != nil || !strings.Contains(body, `"hostname"`) {
		t.Errorf("the outsider does not reach the public web port: %v %s", err, body)
	}
	h1 := func(cmd string) (string, error) { return l.SSH("h1", cmd) }
	for _, port := range []int{7946, 4789} {
		if udpArrives(t, l, "h2", out, port, fmt.Sprintf("srtest-out-%d", port)) {
			t.Errorf("outsider -> h2:%d/udp arrives", port)
		}
		if !udpArrives(t, l, "h2", h1, port, fmt.Sprintf("srtest-h1-%d", port)) {
			t.Errorf("h1 -> h2:%d/udp does not arrive", port)
		}
	}

	// The cluster works: 3 nodes, overlay traffic from a container on h1 to
	// the task on h2.
	if nodes := l.MustSSH(t, "h1", "docker node ls --format '{{.Hostname}} {{.Status}}' | sort"); nodes != "h1 Ready\nh2 Ready\nh3 Ready\n" {
		t.Errorf("nodes %q", nodes)
	}
	ip := trim(l.MustSSH(t, "h2", `docker inspect $(docker ps -q --filter label=com.docker.swarm.service.name=net_web) --format '{{(index .NetworkSettings.Networks "plain").IPAddress}}'`))
	body := l.MustSSH(t, "h1", `nsenter -t $(docker inspect $(docker ps -q --filter label=com.docker.swarm.service.name=net_web) --format '{{.State.Pid}}') -n curl -sf -m 5 http://`+ip+`:8080/`)
	if !strings.Contains(body, `"node"`) {
		t.Errorf("overlay h1 container -> h2 task %s: %q", ip, body)
	}

	// ESP exactly when an encrypted overlay is configured (add-node.star
	// applies the firewall everywhere without touching the networks), while
	// the web service is probed.
	addNode := playbook(t, "add-node.star")
	espRules := func() string { return trim(l.MustSSH(t, "h1", "ufw status | grep -c /esp || true")) }
	if n := espRules(); n != "2" {
		t.Errorf("h1 has %s ESP rules with an encrypted overlay, want 2 (from h2, h3)", n)
	}
	failures := probeDuring(t, l, func() {
		l.MustPlay(t, addNode, "-e", "node=h3", "-e", netVars(l.Net, compose, false))
		if n := espRules(); n != "0" {
			t.Errorf("h1 has %s ESP rules without an encrypted overlay", n)
		}
		l.MustPlay(t, addNode, "-e", "node=h3", "-e", netVars(l.Net, compose, true))
	})
	if failures > 0 {
		t.Errorf("%d probes failed while the firewall changed", failures)
	}
	if n := espRules(); n != "2" {
		t.Errorf("ESP rules back: %s, want 2", n)
	}

	// DOCKER-USER survives a Docker restart, and ufw (the boot path) restores it.
	chain := l.MustSSH(t, "h3", "iptables -S DOCKER-USER")
	if !strings.Contains(chain, "--ctorigdstport 8081") {
		t.Fatalf("h3 DOCKER-USER:\n%s", chain)
	}
	l.MustSSH(t, "h3", "service docker restart >/dev/null 2>&1")
	if got := l.MustSSH(t, "h3", "iptables -S DOCKER-USER"); got != chain {
		t.Errorf("after a Docker restart DOCKER-USER is\n%s\nwas\n%s", got, chain)
	}
	l.MustSSH(t, "h3", "iptables -F DOCKER-USER && ufw reload >/dev/null")
	if got := l.MustSSH(t, "h3", "iptables -S DOCKER-USER"); got != chain {
		t.Errorf("after ufw reload DOCKER-USER is\n%s\nwas\n%s", got, chain)
	}
	l.WaitOutput(t, 90*time.Second, "h3 Ready again", "h1", "docker node ls --format '{{.Hostname}} {{.Status}}' | grep '^h3 '", "h3 Ready")
	if again := l.MustPlay(t, site, vars...); len(again.With("changed")) != 0 {
		t.Errorf("run after the restarts changed %v", again.With("changed"))
	}
	if _, err := out(tcpOpen("198.18.51.13", 8081)); err == nil {
		t.Error("after the restarts the outsider reaches h3:8081")
	}
}
