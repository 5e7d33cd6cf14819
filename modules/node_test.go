package modules

import (
	"strings"
	"testing"
)

// TestNodeNotJoinedCheck: under --check a node not in the swarm yet (an
// earlier step may join it) gets its changes predicted, with no Do to run,
// and refusals carry the module's prefix.
func TestNodeNotJoinedCheck(t *testing.T) {
	f := newFakeManager()
	r := mustRun(t, "node", target(true), f, Params{"node": "w9", "availability": "drain", "role": "manager"})
	if want := "would set availability of w9 to drain, set role of w9 to manager; once w9 has joined"; !r.Changed || !strings.HasPrefix(r.Msg, want) {
		t.Errorf("node: %q, want %q...", r.Msg, want)
	}
	if r := mustRun(t, "node", target(true), f, Params{"node": "w9", "availability": "active"}); r.Changed || !strings.Contains(r.Msg, "not in the swarm yet") {
		t.Errorf("node active: %+v", r)
	}
	r = mustRun(t, "node_label", target(true), f, Params{"node": "w9", "labels": map[string]any{"zone": "a"}})
	if want := "would add label zone=a to w9; once w9 has joined"; !r.Changed || !strings.HasPrefix(r.Msg, want) || !strings.Contains(r.Diff, "+ zone=a") {
		t.Errorf("node_label: %+v, want %q...", r, want)
	}
	if len(f.Calls) != 0 {
		t.Errorf("check mode changed the engine: %v", f.Calls)
	}
	if _, err := run(t, "node", target(false), threeManagers("m3"), Params{"node": "m2", "role": "worker"}); err == nil || !strings.HasPrefix(err.Error(), "node: refusing to demote m2") {
		t.Errorf("refusal: %v", err)
	}
	if _, err := run(t, "node_label", target(false), f, Params{"node": "lab-h1", "labels": []any{"a"}}); err == nil || !strings.HasPrefix(err.Error(), "node_label: labels: a list of keys") {
		t.Errorf("list of keys with present: %v", err)
	}
}
