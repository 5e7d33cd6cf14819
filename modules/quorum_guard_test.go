package modules

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// threeManagers makes the fake a swarm of managers m1..m3 (m1 the leader)
// and a worker w1; down names the nodes that are not Ready.
func threeManagers(down ...string) *fakeEngine {
	f := newFakeManager()
	f.Nodes = map[string]*swarm.Node{}
	for i, name := range []string{"m1", "m2", "m3", "w1"} {
		n := &swarm.Node{ID: "id-" + name, Description: swarm.NodeDescription{Hostname: name},
			Spec:   swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
			Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "198.18.0." + string(rune('1'+i))}}
		if name != "w1" {
			n.Spec.Role = swarm.NodeRoleManager
			n.ManagerStatus = &swarm.ManagerStatus{Leader: name == "m1", Reachability: swarm.ReachabilityReachable, Addr: n.Status.Addr + ":2377"}
		}
		if contains(down, name) {
			n.Status.State = swarm.NodeStateDown
			if n.ManagerStatus != nil {
				n.ManagerStatus.Reachability = swarm.ReachabilityUnreachable
			}
		}
		f.Nodes[n.ID] = n
	}
	return f
}

func TestQuorumGuard(t *testing.T) {
	cases := []struct {
		down  []string
		nodes []any
		err   string // "" = allowed
		msg   string
	}{
		{nil, []any{"m2"}, "", "quorum holds: without m2, 2 of 3 managers stay Ready (majority 2)"},
		{nil, []any{"198.18.0.3"}, "", "without m3"}, // by address
		{nil, []any{"w1"}, "", "no Ready manager among them"},
		{nil, []any{"m1", "m2"}, "refusing to restart Docker on m1, m2: 3 of 3 managers are Ready; without m1, m2 only 1 would be, and raft needs 2", ""},
		{[]string{"m1"}, []any{"m2"}, "refusing to restart Docker on m2: 2 of 3 managers are Ready (not Ready now: m1); without m2 only 1 would be", ""},
		{[]string{"m1"}, []any{"m1"}, "", "no Ready manager"}, // already down: nothing lost
		{[]string{"w1"}, []any{"m3"}, "", "quorum holds"},
	}
	for _, c := range cases {
		f := threeManagers(c.down...)
		for _, check := range []bool{true, false} {
			r, err := run(t, "quorum_guard", target(check), f, Params{"nodes": c.nodes, "action": "restart Docker on"})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "lose its quorum") {
					t.Errorf("down %v, going %v: err %v, want %q", c.down, c.nodes, err, c.err)
				}
				continue
			}
			if err != nil || !strings.Contains(r.Msg, c.msg) || r.Changed {
				t.Errorf("down %v, going %v: %+v %v, want %q", c.down, c.nodes, r, err, c.msg)
			}
		}
		if len(f.Calls) != 0 {
			t.Errorf("the guard changed something: %v", f.Calls)
		}
	}
	// refuse = False reports instead of failing.
	r, err := run(t, "quorum_guard", target(false), threeManagers("m1"), Params{"nodes": []any{"m2"}, "refuse": false})
	if err != nil || r.Outputs["safe"] != false || !strings.Contains(r.Msg, "refusing") {
		t.Errorf("refuse = False: %+v %v", r, err)
	}
	// A single manager has no quorum to keep; no swarm at all passes too.
	if r, err := run(t, "quorum_guard", target(false), newFakeManager(), Params{"nodes": []any{"lab-h1"}}); err != nil || !strings.Contains(r.Msg, "only manager") {
		t.Errorf("single manager: %+v %v", r, err)
	}
	if r, err := run(t, "quorum_guard", target(true), newFakeInactive(), Params{"nodes": []any{"x"}}); err != nil || !strings.Contains(r.Msg, "no swarm yet") {
		t.Errorf("no swarm: %+v %v", r, err)
	}
}

func TestNodeDemoteGuarded(t *testing.T) {
	f := threeManagers("m3")
	_, err := run(t, "node", target(false), f, Params{"node": "m2", "role": "worker"})
	if err == nil || !strings.Contains(err.Error(), "refusing to demote m2") {
		t.Fatalf("demote with one manager down: %v", err)
	}
	if len(f.Calls) != 0 || f.Nodes["id-m2"].Spec.Role != swarm.NodeRoleManager {
		t.Fatalf("the refused demotion touched the node: %v", f.Calls)
	}
	f = threeManagers()
	if r, err := run(t, "node", target(false), f, Params{"node": "m2", "role": "worker"}); err != nil || !r.Changed {
		t.Fatalf("demote with all managers Ready: %+v %v", r, err)
	}
}

func TestNodeWaitReady(t *testing.T) {
	f := threeManagers()
	f.Nodes["id-w1"].Spec.Availability = swarm.NodeAvailabilityDrain
	r, err := run(t, "node", target(false), f, Params{"node": "w1", "availability": "active", "wait": true})
	if err != nil || !r.Changed {
		t.Fatalf("activate and wait: %+v %v", r, err)
	}
	f.Nodes["id-w1"].Status.State = swarm.NodeStateDown
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = runCtx(t, ctx, "node", target(false), f, Params{"node": "w1", "availability": "active", "wait": true})
	if err == nil || !strings.Contains(err.Error(), "w1 is down") {
		t.Fatalf("a down node: %v", err)
	}
}

func TestNodeAbsentAndLeave(t *testing.T) {
	f := threeManagers()
	gone := Params{"node": "w1", "state": "absent"}
	if _, err := run(t, "node", target(false), f, Params{"node": "m2", "state": "absent"}); err == nil || !strings.Contains(err.Error(), "demote it first") {
		t.Errorf("removing a manager: %v", err)
	}
	if r := mustRun(t, "node", target(true), f, gone); !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	f.Nodes["id-w1"].Status.State = swarm.NodeStateDown
	if r := mustRun(t, "node", target(false), f, gone); !r.Changed || strings.Join(f.Calls, ";") != "NodeRemove w1" {
		t.Fatalf("remove: %+v %v", r, f.Calls)
	}
	if r := mustRun(t, "node", target(false), f, gone); r.Changed {
		t.Fatalf("second run: %+v", r)
	}

	// swarm_leave: a manager only with force; a worker leaves; then no change.
	m := newFakeManager()
	if _, err := run(t, "swarm_leave", target(false), m, Params{}); err == nil || !strings.Contains(err.Error(), "demote it first") {
		t.Errorf("manager leave: %v", err)
	}
	m.SysInfo.Swarm.ControlAvailable = false
	if r := mustRun(t, "swarm_leave", target(true), m, Params{}); !r.Changed || len(m.Calls) != 0 {
		t.Fatalf("leave check: %+v %v", r, m.Calls)
	}
	mustRun(t, "swarm_leave", target(false), m, Params{})
	if r := mustRun(t, "swarm_leave", target(false), m, Params{}); r.Changed || len(m.Calls) != 1 {
		t.Fatalf("leave again: %+v %v", r, m.Calls)
	}
}

// TestNodeUpdateOutOfSequence: a node that changed between the read and the
// update (a demotion still reconciling, as seen on a real swarm) is read
// again and updated; one that keeps changing fails after a few tries.
func TestNodeUpdateOutOfSequence(t *testing.T) {
	f := threeManagers()
	f.BusyNodes = 2
	if r, err := run(t, "node", target(false), f, Params{"node": "m2", "availability": "drain"}); err != nil || !r.Changed {
		t.Fatalf("drain after two concurrent updates: %+v %v", r, err)
	}
	if got := f.Nodes["id-m2"].Spec.Availability; got != swarm.NodeAvailabilityDrain {
		t.Errorf("availability %q, want drain", got)
	}
	f = threeManagers()
	f.BusyNodes = 10
	if _, err := run(t, "node_label", target(false), f, Params{"node": "m2", "labels": map[string]any{"zone": "a"}}); err == nil || !strings.Contains(err.Error(), "out of sequence") {
		t.Errorf("a node that keeps changing: %v", err)
	}
}
