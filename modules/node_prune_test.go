package modules

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

// TestNodePrune: the old node of a host that joined again is removed (down
// or unknown); a host with no Ready node keeps its nodes; --check removes
// nothing; a second run changes nothing.
func TestNodePrune(t *testing.T) {
	f := newFakeManager()
	add := func(id, host string, st swarm.NodeState) {
		f.Nodes[id] = &swarm.Node{ID: id, Description: swarm.NodeDescription{Hostname: host}, Status: swarm.NodeStatus{State: st}}
	}
	add("old-h1", "lab-h1", swarm.NodeStateUnknown) // lab-h1 (node0001) is Ready
	add("old-h2", "lab-h2", swarm.NodeStateDown)
	add("new-h2", "lab-h2", swarm.NodeStateReady)
	add("gone-a", "lab-h3", swarm.NodeStateDown) // no Ready node of lab-h3: left alone
	add("gone-b", "lab-h3", swarm.NodeStateUnknown)
	add("solo", "lab-h4", swarm.NodeStateDown)
	p := Params{"settle": int64(0)}
	r := mustRun(t, "node_prune", target(true), f, p)
	if !r.Changed || len(f.Calls) != 0 || r.Msg != "would remove stale node lab-h1 (old-h1, unknown), remove stale node lab-h2 (old-h2, down)" {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r = mustRun(t, "node_prune", target(false), f, p)
	if got := strings.Join(f.Calls, ","); !r.Changed || got != "NodeRemove lab-h1,NodeRemove lab-h2" {
		t.Fatalf("run: %+v %s", r, got)
	}
	for _, id := range []string{"node0001", "new-h2", "gone-a", "gone-b", "solo"} {
		if f.Nodes[id] == nil {
			t.Errorf("node %s removed", id)
		}
	}
	if r := mustRun(t, "node_prune", target(false), f, p); r.Changed {
		t.Fatalf("second run: %+v", r)
	}
}
