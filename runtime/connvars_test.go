package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	// t_addr outputs what a module sees of its host.
	testModules.Register(&modules.Module{Name: "t_addr", Doc: "test",
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			return &modules.Result{Msg: fmt.Sprintf("%s %v", t.Address, t.Become)}, nil
		}})
}

// The address a playbook and its modules see (h.address, a swarm node's
// advertise address) is the address the connection dials, whichever of
// ansible_host and ansible_ssh_host the inventory sets; ansible_become and
// the password variables are read by the same reader.
func TestConnectionVarsAgree(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/config of the user running the test
	vars := map[string]map[string]any{
		"ssh_host_only": {"ansible_ssh_host": "10.0.1.1"},
		"host_only":     {"ansible_host": "10.0.2.2", "ansible_become": "yes"},
		"both":          {"ansible_host": "10.0.3.3", "ansible_ssh_host": "10.0.3.9", "ansible_ssh_pass": "sshpass-SECRET"},
	}
	var mu sync.Mutex
	dialled := map[string]string{}
	o := Options{
		Match: func(pattern string) ([]HostSpec, error) {
			var out []HostSpec
			for _, n := range []string{"both", "host_only", "ssh_host_only"} {
				out = append(out, HostSpec{Name: n, Vars: vars[n]})
			}
			return out, nil
		},
		Dial: func(ctx context.Context, name string, v map[string]any) (connection.Conn, error) {
			mu.Lock()
			dialled[name] = connection.FromVars(name, v, connection.Config{}).Host
			mu.Unlock()
			return &fakeConn{name: name}, nil
		},
	}
	r := play(t, context.Background(), `
r = t_addr(hosts("all"))
for h in hosts("all"):
    print(h.name, h.address)
    print(h.vars)
`, o, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := map[string]string{"ssh_host_only": "10.0.1.1", "host_only": "10.0.2.2", "both": "10.0.3.3"}
	seen := map[string]bool{}
	for _, ev := range r.events {
		if ev["event"] != "result" {
			continue
		}
		host, _ := ev["host"].(string)
		msg, _ := ev["msg"].(string)
		if wantMsg := fmt.Sprintf("%s %v", want[host], host == "host_only"); msg != wantMsg || dialled[host] != want[host] {
			t.Errorf("%s: module sees %q (address become), connection dials %q; want %q", host, msg, dialled[host], wantMsg)
		}
		seen[host] = true
	}
	if len(seen) != 3 {
		t.Errorf("results for %v, want 3 hosts", seen)
	}
	for _, n := range []string{"ssh_host_only", "host_only", "both"} {
		if !strings.Contains(r.raw, `"msg":"`+n+" "+want[n]) {
			t.Errorf("h.address of %s is not %s:\n%s", n, want[n], r.raw)
		}
	}
	if strings.Contains(r.raw, "sshpass-SECRET") {
		t.Errorf("a password variable was printed:\n%s", r.raw)
	}
}
