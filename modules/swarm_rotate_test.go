package modules

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"github.com/docker/docker/api/types/swarm"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestRotateTokens(t *testing.T) {
	f := newFakeManager()
	old := f.Swarm.JoinTokens
	p := Params{"rotate_tokens": []any{"worker"}}
	r := mustRun(t, "swarm_init", target(true), f, p)
	if !r.Changed || len(f.Calls) != 0 || r.Outputs["worker_token"] != nil || r.Outputs["manager_token"] != old.Manager {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r = mustRun(t, "swarm_init", target(false), f, p)
	if !r.Changed || r.Outputs["worker_token"] == old.Worker || r.Outputs["worker_token"] != f.Swarm.JoinTokens.Worker || f.Swarm.JoinTokens.Manager != old.Manager {
		t.Fatalf("rotate worker: %+v", r)
	}
	if _, err := run(t, "swarm_init", target(false), f, Params{"rotate_tokens": []any{"admin"}}); err == nil {
		t.Error("an unknown token kind is accepted")
	}
}

func TestRotateCA(t *testing.T) {
	f := newFakeManager()
	f.Swarm.TLSInfo.TrustRoot = testCA(t, 31*24*time.Hour)
	old := f.Swarm.JoinTokens
	if r := mustRun(t, "swarm_init", target(false), f, Params{"ca_rotate_within": "720h"}); r.Changed {
		t.Fatalf("a CA valid 31 days is not within 720h: %+v", r)
	}
	r := mustRun(t, "swarm_init", target(true), f, Params{"ca_rotate_within": "1000h"})
	if !r.Changed || !strings.Contains(r.Msg, "within 1000h0m0s)") || len(f.Calls) != 0 {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r = mustRun(t, "swarm_init", target(false), f, Params{"rotate_ca": true})
	if !r.Changed || r.Outputs["worker_token"] == old.Worker || !strings.Contains(f.Swarm.TLSInfo.TrustRoot, "-rotated-") {
		t.Fatalf("rotate: %+v %q", r, f.Swarm.TLSInfo.TrustRoot)
	}
}

// testCA is a self-signed CA certificate valid for d.
func testCA(t *testing.T, d time.Duration) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(d), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestSwarmUnlock(t *testing.T) {
	f := newFakeManager()
	key := Params{"key": "SWMKEY-1-fake"}
	if r := mustRun(t, "swarm_unlock", target(false), f, key); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("not locked: %+v", r)
	}
	f.SysInfo.Swarm.LocalNodeState = swarm.LocalNodeStateLocked
	if r := mustRun(t, "swarm_unlock", target(true), f, key); !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	if _, err := run(t, "swarm_unlock", target(false), f, Params{"key": "SWMKEY-1-wrong"}); err == nil {
		t.Fatal("a wrong key unlocked")
	}
	if r := mustRun(t, "swarm_unlock", target(false), f, key); !r.Changed || f.SysInfo.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
		t.Fatalf("unlock: %+v", r)
	}
	if r := mustRun(t, "swarm_unlock", target(false), f, key); r.Changed {
		t.Fatalf("again: %+v", r)
	}
}

func TestForceNewCluster(t *testing.T) {
	f := newFakeManager()
	p := Params{"force_new_cluster": true, "advertise_addr": "198.18.1.11"}
	// A working manager is left alone.
	if r := mustRun(t, "swarm_init", target(false), f, p); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("working manager: %+v %v", r, f.Calls)
	}
	f.NoLeader = true // state restored from a backup: the old peers are gone
	if r := mustRun(t, "swarm_init", target(true), f, p); !r.Changed || len(f.Calls) != 0 || !strings.Contains(r.Msg, "would force a new cluster") {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r := mustRun(t, "swarm_init", target(false), f, p)
	if !r.Changed || strings.Join(f.Calls, ";") != "SwarmInit 198.18.1.11 force=true" || r.Outputs["worker_token"] == nil {
		t.Fatalf("force: %+v %v", r, f.Calls)
	}
	if r := mustRun(t, "swarm_init", target(false), f, p); r.Changed || len(f.Calls) != 1 {
		t.Fatalf("again: %+v %v", r, f.Calls)
	}
}

// slowUnlock answers an unlock only when its context ends, as the engine
// does for a manager restored from a backup, after unlocking it.
type slowUnlock struct{ *fakeEngine }

func (s slowUnlock) SwarmUnlock(ctx context.Context, req swarm.UnlockRequest) error {
	s.fakeEngine.SysInfo.Swarm.LocalNodeState = swarm.LocalNodeStatePending
	<-ctx.Done()
	return ctx.Err()
}

func TestSwarmUnlockRestored(t *testing.T) {
	defer func(d time.Duration) { unlockAnswerWait = d }(unlockAnswerWait)
	unlockAnswerWait = 100 * time.Millisecond
	f := newFakeManager()
	f.SysInfo.Swarm.LocalNodeState = swarm.LocalNodeStateLocked
	r, err := run(t, "swarm_unlock", target(false), slowUnlock{f}, Params{"key": "SWMKEY-1-fake"})
	if err != nil || !r.Changed || r.Msg != "unlock swarm; swarm state pending" {
		t.Fatalf("%+v %v", r, err)
	}
}
