package modules

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmrun/swarmrun/modules/internal/kittest"
)

// The node family's conformance fixtures (node, node_label, node_prune,
// quorum_guard) on the fake engine; threeManagers is in quorum_guard_test.go.

// kitEngineReadOnly are the Docker modules that never change anything:
// TestKitConformance checks them with kittest.ReadOnly.
var kitEngineReadOnly = map[string]func(t *testing.T) kittest.Runner{
	"quorum_guard": func(t *testing.T) kittest.Runner {
		return kitEngine(t, "quorum_guard", threeManagers(), Params{"nodes": []any{"m2"}, "action": "reboot"})
	},
}

func init() {
	// Drain and demote m2: two changes, one node update.
	kitEngineFixtures["node"] = func(t *testing.T) kittest.Runner {
		return kitEngine(t, "node", threeManagers(), Params{"node": "m2", "availability": "drain", "role": "worker"})
	}
	// Add one label, change one, remove one (exclusive).
	kitEngineFixtures["node_label"] = func(t *testing.T) kittest.Runner {
		f := newFakeManager()
		f.Nodes["node0001"].Spec.Labels = map[string]string{"zone": "b", "old": "x"}
		return kitEngine(t, "node_label", f, Params{"node": "lab-h1", "labels": map[string]any{"zone": "a", "role": "web"}, "exclusive": true})
	}
	// lab-h1 joined again: its old node, down, is pruned.
	kitEngineFixtures["node_prune"] = func(t *testing.T) kittest.Runner {
		f := newFakeManager()
		f.Nodes["old-h1"] = &swarm.Node{ID: "old-h1", Description: swarm.NodeDescription{Hostname: "lab-h1"}, Status: swarm.NodeStatus{State: swarm.NodeStateDown}}
		return kitEngine(t, "node_prune", f, Params{"settle": int64(0)})
	}
}

// TestKitConformanceNodeAbsent: node(state = "absent") is the node module's
// other plan (node_remove.go); the table has one fixture per module.
func TestKitConformanceNodeAbsent(t *testing.T) {
	f := threeManagers("w1")
	kittest.Conform(t, kitEngine(t, "node", f, Params{"node": "w1", "state": "absent"}))
	if f.Nodes["id-w1"] != nil {
		t.Error("w1 is still in the node list")
	}
}
