package modules

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

// nsConn runs commands inside a network namespace of the test's own.
type nsConn struct {
	shConn
	ns string
}

func (c nsConn) Run(ctx context.Context, cmd string, o connection.RunOpts) (*connection.RunResult, error) {
	return c.shConn.Run(ctx, "exec nsenter --net=/run/netns/"+c.ns+" sh -c "+Quote(cmd), o)
}

// testNetns makes a network namespace with lo up for the test (root only;
// skipped without the commands named) and returns its name.
func testNetns(t *testing.T, prefix string, commands ...string) string {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	for _, c := range append(commands, "nsenter", "ip") {
		if _, err := exec.LookPath(c); err != nil {
			t.Skip(c + " not installed")
		}
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	return ns
}

// TestPreflightProbesLocal runs the real listener and prober in a private
// network namespace: every check passes against the listener, and a port
// dropped by iptables is reported with the pair and the port.
func TestPreflightProbesLocal(t *testing.T) {
	ns := testNetns(t, "srpf-unit", "perl", "iptables")
	tg := &Target{Name: "a", Conn: nsConn{shConn{t}, ns}, Check: true}
	m, _ := Get("preflight")
	run := func(p Params) (*Result, error) {
		full := Params{"action": "check", "esp": true, "overlay_mtu": int64(1450), "max_clock_skew": 2.0, "probe_timeout": int64(1),
			"listen_seconds": int64(60), "min_memory_mb": int64(1), "min_cpus": int64(1), "min_disk_gb": int64(0), "strict": false}
		for k, v := range p {
			full[k] = v
		}
		return m.Run(context.Background(), tg, full)
	}
	if _, err := run(Params{"action": "listen"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run(Params{"action": "stop"}) })
	peers := []any{map[string]any{"name": "a", "address": "127.0.0.1"}, map[string]any{"name": "b", "address": "127.0.0.1", "manager": true},
		map[string]any{"name": "c", "address": "127.0.0.2"}}
	r, err := run(Params{"peers": peers})
	if err != nil {
		t.Fatal(err)
	}
	checks := r.Outputs["checks"].([]any)
	var names []string
	for _, c := range checks {
		d := c.(map[string]any)
		names = append(names, d["to"].(string)+":"+d["check"].(string))
		if d["from"] != "a" || d["ok"] != true {
			t.Errorf("check %v", d)
		}
	}
	if got := strings.Join(names, " "); got != "b:2377/tcp b:7946/tcp b:7946/udp b:4789/udp b:mtu b:esp c:7946/tcp c:7946/udp c:4789/udp c:mtu c:esp" {
		t.Errorf("checks %q", got)
	}
	if f := r.Outputs["failures"].([]any); len(f) != 0 {
		t.Errorf("failures on an open namespace: %v", f)
	}
	// A dropped port: named with the pair; strict fails the host.
	if out, err := exec.Command("nsenter", "--net=/run/netns/"+ns, "iptables", "-I", "INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP").CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v %s", err, out)
	}
	_, err = run(Params{"peers": peers, "strict": true})
	if err == nil || !strings.Contains(err.Error(), "a -> b 4789/udp: no answer") || !strings.Contains(err.Error(), "a -> c 4789/udp: no answer") {
		t.Fatalf("dropped 4789/udp: %v", err)
	}
	if strings.Contains(err.Error(), "7946/udp") {
		t.Errorf("only 4789 is dropped: %v", err)
	}
}

func TestPreflightParseAndArgs(t *testing.T) {
	checks, fails := preflightParse("h1", "noise\nR\th3\tmtu\tok\tx\nR\th2\t7946/udp\tfail\tno answer within 2s (2 tries)\nR\th3\t2377/tcp\tok\tconnected\nR\th2\t2377/tcp\tok\tconnected\n")
	if len(checks) != 4 || len(fails) != 1 || fails[0] != "h1 -> h2 7946/udp: no answer within 2s (2 tries)" {
		t.Errorf("checks %v fails %v", checks, fails)
	}
	var order []string
	for _, c := range checks {
		order = append(order, c.(map[string]any)["to"].(string)+" "+c.(map[string]any)["check"].(string))
	}
	if got := strings.Join(order, ", "); got != "h2 2377/tcp, h2 7946/udp, h3 2377/tcp, h3 mtu" {
		t.Errorf("order: %s", got)
	}
	peers, err := preflightPeers([]any{map[string]any{"name": "h1", "address": "10.0.0.1", "manager": true}, map[string]any{"name": "h2", "address": "10.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	args := preflightCheckArgs(&Target{Name: "h2"}, peers, Params{"probe_timeout": int64(2), "overlay_mtu": int64(1450), "esp": false})
	if got := strings.Join(args, " "); got != "2 1500 0 h1,10.0.0.1,2377+7946,7946+4789" {
		t.Errorf("args %q", got)
	}
	if _, err := preflightPeers([]any{map[string]any{"name": "h 1", "address": "x"}}); err == nil {
		t.Error("a name with a space was accepted")
	}
	var warns []string
	fails = preflightKernel("h1", map[string]bool{"overlay": true, "br_netfilter": true}, true, &warns)
	if len(fails) != 1 || !strings.Contains(fails[0], "VXLAN") || len(warns) != 2 {
		t.Errorf("kernel: fails %v warns %v", fails, warns)
	}
}
