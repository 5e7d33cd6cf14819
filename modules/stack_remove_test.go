package modules

import (
	"strings"
	"testing"
)

// stack(state = "absent") removes the stack's services and its own
// config, keeps external objects (the network and secret made outside),
// predicts exactly under --check, and changes nothing the second time.
func TestStackAbsent(t *testing.T) {
	f := newFakeManager()
	mustRun(t, "network", target(false), f, Params{"name": "appnet", "attachable": true})
	mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "x"})
	mustRun(t, "stack", target(false), f, stackParams())
	f.Calls = nil
	gone := Params{"name": "web", "state": "absent"}
	r := mustRun(t, "stack", target(true), f, gone)
	if !r.Changed || len(f.Calls) != 0 || r.Diff != "- config web_web_conf\n- service web_web\n" {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r = mustRun(t, "stack", target(false), f, gone)
	if !r.Changed || strings.Join(f.Calls, ";") != "ServiceRemove web_web;ConfigRemove web_web_conf" {
		t.Fatalf("remove: %+v %v", r, f.Calls)
	}
	if len(f.Networks) != 2 || len(f.Secrets) != 1 {
		t.Errorf("external objects removed: %d networks, %d secrets", len(f.Networks), len(f.Secrets))
	}
	f.Calls = nil
	if r := mustRun(t, "stack", target(false), f, gone); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("second run: %+v %v", r, f.Calls)
	}
	// The network and secret can go once nothing uses them.
	mustRun(t, "network", target(false), f, Params{"name": "appnet", "state": "absent"})
	mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "x", "state": "absent"})
}

// Removing a network or secret a service uses is refused.
func TestRemoveInUseRefused(t *testing.T) {
	f := newFakeManager()
	mustRun(t, "network", target(false), f, Params{"name": "appnet", "attachable": true})
	mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "x"})
	mustRun(t, "stack", target(false), f, stackParams())
	f.Calls = nil
	if _, err := run(t, "network", target(false), f, Params{"name": "appnet", "state": "absent"}); err == nil || !strings.Contains(err.Error(), "used by services web_web") {
		t.Errorf("network in use: %v", err)
	}
	if _, err := run(t, "secret", target(true), f, Params{"name": "pw", "data": "x", "state": "absent"}); err == nil || !strings.Contains(err.Error(), "used by services web_web") {
		t.Errorf("secret in use (check): %v", err)
	}
	if len(f.Calls) != 0 {
		t.Errorf("refused removals touched the swarm: %v", f.Calls)
	}
}
