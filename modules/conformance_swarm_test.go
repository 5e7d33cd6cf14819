package modules

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmrun/swarmrun/modules/internal/kittest"
)

// The swarm modules' conformance fixtures (conformance_test.go runs them):
// each makes a real change on a fake engine, and no join token or unlock
// key may show in a message, a diff or an error.
func init() {
	kitEngineFixtures["swarm_init"] = func(t *testing.T) kittest.Runner {
		f := newFakeInactive()
		return hidingSecrets(t, kitEngine(t, "swarm_init", f, Params{"cert_expiry": "720h"}), f)
	}
	kitEngineFixtures["swarm_join"] = func(t *testing.T) kittest.Runner {
		m := secondManager()
		p := Params{"manager": m.SysInfo.Swarm.NodeAddr, "token": m.Swarm.JoinTokens.Worker}
		return hidingSecrets(t, kitEngine(t, "swarm_join", newFakeInactive(), p), m)
	}
	kitEngineFixtures["swarm_leave"] = func(t *testing.T) kittest.Runner {
		return kitEngine(t, "swarm_leave", fakeWorker(t, "198.18.0.12:2377"), Params{})
	}
	kitEngineFixtures["swarm_unlock"] = func(t *testing.T) kittest.Runner {
		f := newFakeManager()
		f.SysInfo.Swarm.LocalNodeState = swarm.LocalNodeStateLocked
		return hidingSecrets(t, kitEngine(t, "swarm_unlock", f, Params{"key": "SWMKEY-1-fake"}), f)
	}
}

// TestKitConformanceSwarmPaths holds swarm_init's and swarm_join's other
// changing paths to the kit, each on a fixture of its own.
func TestKitConformanceSwarmPaths(t *testing.T) {
	t.Run("swarm_init/settings", func(t *testing.T) {
		f := newFakeManager()
		p := Params{"cert_expiry": "720h", "task_history_limit": int64(2), "autolock": true}
		kittest.Conform(t, hidingSecrets(t, kitEngine(t, "swarm_init", f, p), f))
	})
	t.Run("swarm_init/ca_rotate_within", func(t *testing.T) {
		f := newFakeManager()
		f.Swarm.TLSInfo.TrustRoot = testCA(t, 31*24*time.Hour)
		f.NextRoot = testCA(t, 365*24*time.Hour)
		kittest.Conform(t, hidingSecrets(t, kitEngine(t, "swarm_init", f, Params{"ca_rotate_within": "1000h"}), f))
	})
	t.Run("swarm_init/force_new_cluster", func(t *testing.T) {
		f := newFakeManager()
		f.NoLeader = true
		kittest.Conform(t, hidingSecrets(t, kitEngine(t, "swarm_init", f, Params{"force_new_cluster": true}), f))
	})
	t.Run("swarm_join/force", func(t *testing.T) {
		m := secondManager()
		p := Params{"manager": m.SysInfo.Swarm.NodeAddr, "token": m.Swarm.JoinTokens.Worker, "force": true}
		kittest.Conform(t, hidingSecrets(t, kitEngine(t, "swarm_join", fakeWorker(t, "198.18.5.11:2377"), p), m))
	})
	t.Run("swarm_join/stuck", func(t *testing.T) {
		m := secondManager()
		f := newFakeInactive()
		f.SysInfo.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStatePending}
		p := Params{"manager": m.SysInfo.Swarm.NodeAddr, "token": m.Swarm.JoinTokens.Manager}
		kittest.Conform(t, hidingSecrets(t, kitEngine(t, "swarm_join", f, p), m))
	})
}

// TestKitConformanceSwarmRotateTokens: rotate_tokens is an action, changed
// on every run that gives it, so kittest.Conform's second run cannot hold;
// the rest does: check mode touches nothing and reports what the real run
// does, in the kit's wording.
func TestKitConformanceSwarmRotateTokens(t *testing.T) {
	f := newFakeManager()
	old := f.Swarm.JoinTokens
	r := hidingSecrets(t, kitEngine(t, "swarm_init", f, Params{"rotate_tokens": []any{"worker"}}), f)
	check, err := r.Run(true)
	if err != nil || len(f.Calls) != 0 {
		t.Fatalf("check: %v, calls %v", err, f.Calls)
	}
	want := []string{"rotate worker join token"}
	for i := 0; i < 2; i++ {
		real, err := r.Run(false)
		if err != nil || !reflect.DeepEqual(check.Changes, want) || !reflect.DeepEqual(real.Changes, want) {
			t.Fatalf("run %d: check %+v, real %+v %v", i, check, real, err)
		}
		if !kittest.Wording(real.Msg, want[0]) || !kittest.Wording(check.Msg, "would "+want[0]) || check.Diff != real.Diff {
			t.Errorf("wording: check %+v, real %+v", check, real)
		}
		if f.Swarm.JoinTokens.Worker == old.Worker || f.Swarm.JoinTokens.Manager != old.Manager {
			t.Fatalf("run %d: tokens %+v, were %+v", i, f.Swarm.JoinTokens, old)
		}
		old = f.Swarm.JoinTokens
	}
}

// secondManager is a swarm's manager other than the host under test (at
// 198.18.0.11): its tokens are the ones a host joins with.
func secondManager() *fakeEngine {
	m := newFakeInactive()
	m.InitSwarm("198.18.0.12")
	return m
}

// fakeWorker is an engine that joined the swarm of the manager at addr as
// a worker.
func fakeWorker(t *testing.T, addr string) *fakeEngine {
	w := newFakeInactive()
	if err := w.SwarmJoin(context.Background(), swarm.JoinRequest{AdvertiseAddr: "198.18.0.11", RemoteAddrs: []string{addr}}); err != nil {
		t.Fatal(err)
	}
	w.Calls = nil
	return w
}

// hidingSecrets fails the test when a run of r shows one of e's join
// tokens, as they are at that run, or its unlock key.
func hidingSecrets(t *testing.T, r kittest.Runner, e *fakeEngine) kittest.Runner {
	run := r.Run
	r.Run = func(check bool) (kittest.Outcome, error) {
		o, err := run(check)
		shown := o.Msg + "\n" + o.Diff
		if err != nil {
			shown += "\n" + err.Error()
		}
		for _, s := range []string{e.Swarm.JoinTokens.Worker, e.Swarm.JoinTokens.Manager, "SWMKEY-1-fake"} {
			if s != "" && strings.Contains(shown, s) {
				t.Errorf("a secret shows (check=%v): %s", check, shown)
			}
		}
		return o, err
	}
	return r
}
