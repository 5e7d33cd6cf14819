package modules

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func run(t *testing.T, name string, tgt *Target, api client.APIClient, p Params) (*Result, error) {
	t.Helper()
	return runCtx(t, context.Background(), name, tgt, api, p)
}

// runCtx runs the named module's Run, with its parameter defaults, against
// api as the host's engine.
func runCtx(t *testing.T, ctx context.Context, name string, tgt *Target, api client.APIClient, p Params) (*Result, error) {
	t.Helper()
	m, _ := Get(name)
	full := genParams(t, name, p)
	// The module's own Run, as the runtime calls it: the fake engine is
	// the host's Docker client.
	tgt.Docker = func(context.Context) (client.APIClient, error) { return api, nil }
	return m.Run(ctx, tgt, full)
}

func target(check bool) *Target {
	return &Target{Name: "h1", Address: "198.18.0.11", Check: check, Diff: true, Dir: "../testdata/e2e/swarm"}
}

func mustRun(t *testing.T, name string, tgt *Target, api client.APIClient, p Params) *Result {
	t.Helper()
	r, err := run(t, name, tgt, api, p)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func TestJoinToken(t *testing.T) {
	tok := fakeToken(fakeCA, "abc")
	jt, err := parseJoinToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if jt.RootDigest != rootCADigest([]byte(fakeCA)) {
		t.Fatalf("digest %s, want %s", jt.RootDigest, rootCADigest([]byte(fakeCA)))
	}
	// A real token from swarmkit's test data shape: version 2, FIPS.
	parts := strings.Split(tok, "-")
	v2 := "SWMTKN-2-1-" + parts[2] + "-" + parts[3]
	if jt2, err := parseJoinToken(v2); err != nil || !jt2.FIPS || jt2.RootDigest != jt.RootDigest {
		t.Fatalf("v2: %+v %v", jt2, err)
	}
	for _, bad := range []string{"", "SWMTKN-1-abc-def", "SWMTKN-3-" + parts[2] + "-" + parts[3], "XYZ-1-" + parts[2] + "-" + parts[3], "SWMTKN-1-" + parts[2] + "-short"} {
		if _, err := parseJoinToken(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// noEngine is a host whose engine does not answer yet (Docker not installed).
type noEngine struct{ *fakeEngine }

func (noEngine) Ping(context.Context) (types.Ping, error) {
	return types.Ping{}, errors.New("cannot connect to the Docker daemon")
}

// Under --check, Run (withDocker) plans a host without an engine as a
// just-installed one: outside a swarm, whatever the client would answer.
func TestCheckWithoutEngine(t *testing.T) {
	f := newFakeManager()
	r := mustRun(t, "swarm_init", target(true), noEngine{f}, Params{})
	if !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check without an engine: changed=%v calls=%v", r.Changed, f.Calls)
	}
	if r := mustRun(t, "swarm_init", target(true), f, Params{}); r.Changed {
		t.Fatalf("check with the engine: %+v", r)
	}
}

func TestSwarmInit(t *testing.T) {
	f := newFakeInactive()
	r := mustRun(t, "swarm_init", target(true), f, Params{})
	if !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check: changed=%v calls=%v", r.Changed, f.Calls)
	}
	r = mustRun(t, "swarm_init", target(false), f, Params{"cert_expiry": "720h"})
	if !r.Changed || f.Calls[0] != "SwarmInit 198.18.0.11 force=false" {
		t.Fatalf("init: %+v %v", r, f.Calls)
	}
	if r.Outputs["addr"] != "198.18.0.11:2377" || r.Outputs["worker_token"] != f.Swarm.JoinTokens.Worker || r.Outputs["cluster_id"] != "cluster1" {
		t.Fatalf("outputs %v", r.Outputs)
	}
	f.Calls = nil
	r = mustRun(t, "swarm_init", target(false), f, Params{"cert_expiry": "720h"})
	if r.Changed || len(f.Calls) != 0 {
		t.Fatalf("second run changed: %+v %v", r, f.Calls)
	}
	// An updatable setting: predicted under --check (tokens still output),
	// then applied.
	r = mustRun(t, "swarm_init", target(true), f, Params{"task_history_limit": int64(2)})
	if !r.Changed || len(f.Calls) != 0 || r.Outputs["manager_token"] == nil || !strings.Contains(r.Diff, "task_history_limit") {
		t.Fatalf("check update: %+v %v", r, f.Calls)
	}
	mustRun(t, "swarm_init", target(false), f, Params{"task_history_limit": int64(2)})
	if *f.Swarm.Spec.Orchestration.TaskHistoryRetentionLimit != 2 || f.Swarm.Spec.CAConfig.NodeCertExpiry != 720*time.Hour {
		t.Fatalf("spec %+v", f.Swarm.Spec)
	}
	if _, err := run(t, "swarm_init", target(false), f, Params{"data_path_port": int64(4790)}); err == nil {
		t.Fatal("a fixed setting that differs must fail")
	}
}

func TestSwarmJoin(t *testing.T) {
	tok := fakeToken(fakeCA, "w")
	p := Params{"manager": "198.18.0.11", "token": tok}
	f := newFakeInactive()
	if r := mustRun(t, "swarm_join", target(true), f, p); !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r := mustRun(t, "swarm_join", target(false), f, p)
	if !r.Changed || f.Calls[0] != "SwarmJoin 198.18.0.11:2377" || r.Outputs["role"] != "worker" {
		t.Fatalf("join: %+v %v", r, f.Calls)
	}
	// Now a worker: no cluster info, no readable CA (no connection); the
	// manager address among its managers says it is joined.
	f.Calls = nil
	if r := mustRun(t, "swarm_join", target(false), f, p); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("second run: %+v %v", r, f.Calls)
	}
	// A worker of another swarm.
	other := Params{"manager": "198.18.5.11:2377", "token": tok}
	if _, err := run(t, "swarm_join", target(false), f, other); err == nil || !strings.Contains(err.Error(), "force") {
		t.Fatalf("other swarm without force: %v", err)
	}
	other["force"] = true
	mustRun(t, "swarm_join", target(false), f, other)
	if strings.Join(f.Calls, ";") != "SwarmLeave force=true;SwarmJoin 198.18.5.11:2377" {
		t.Fatalf("force: %v", f.Calls)
	}
	// Stuck pending after a timed-out join: leave and join again.
	f.Calls = nil
	f.SysInfo.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStatePending}
	mustRun(t, "swarm_join", target(false), f, p)
	if strings.Join(f.Calls, ";") != "SwarmLeave force=true;SwarmJoin 198.18.0.11:2377" {
		t.Fatalf("pending: %v", f.Calls)
	}
	// A manager compares its root CA with the token's digest.
	m := newFakeManager()
	if r := mustRun(t, "swarm_join", target(false), m, Params{"manager": "198.18.9.9", "token": m.Swarm.JoinTokens.Manager}); r.Changed || r.Outputs["role"] != "manager" {
		t.Fatalf("manager: %+v", r)
	}
	if _, err := run(t, "swarm_join", target(false), m, Params{"manager": "198.18.0.11", "token": fakeToken("other CA", "m")}); err == nil {
		t.Fatal("manager of another swarm (CA differs) must fail")
	}
	if _, err := run(t, "swarm_join", target(false), m, Params{"manager": "198.18.0.11", "token": m.Swarm.JoinTokens.Worker}); err == nil {
		t.Fatal("manager given the worker token must fail")
	}
	if _, err := run(t, "swarm_join", target(false), m, Params{"manager": "x", "token": "nonsense"}); err == nil || strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("bad token: %v", err)
	}
}

func TestNodeLabelAndNode(t *testing.T) {
	f := newFakeManager()
	p := Params{"node": "lab-h1", "labels": map[string]any{"role": "web", "zone": "a"}}
	if r := mustRun(t, "node_label", target(true), f, p); !r.Changed || len(f.Calls) != 0 || !strings.Contains(r.Diff, "+ role=web") {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	mustRun(t, "node_label", target(false), f, p)
	if r := mustRun(t, "node_label", target(false), f, p); r.Changed {
		t.Fatalf("second run: %+v", r)
	}
	r := mustRun(t, "node_label", target(false), f, Params{"node": "node0001", "labels": map[string]any{"role": "db"}, "exclusive": true})
	if got := f.Nodes["node0001"].Spec.Labels; len(got) != 1 || got["role"] != "db" || !strings.Contains(r.Diff, "- zone=a") {
		t.Fatalf("exclusive: %v %q", got, r.Diff)
	}
	mustRun(t, "node_label", target(false), f, Params{"node": "lab-h1", "labels": []any{"role"}, "state": "absent"})
	if len(f.Nodes["node0001"].Spec.Labels) != 0 {
		t.Fatalf("absent: %v", f.Nodes["node0001"].Spec.Labels)
	}
	defer func(d time.Duration) { nodeAppearWait = d }(nodeAppearWait)
	nodeAppearWait = 0
	if _, err := run(t, "node_label", target(false), f, Params{"node": "nope", "labels": map[string]any{}}); err == nil {
		t.Fatal("unknown node must fail")
	}

	f.Calls = nil
	if r := mustRun(t, "node", target(true), f, Params{"node": "lab-h1", "availability": "drain"}); !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("node check: %+v", r)
	}
	mustRun(t, "node", target(false), f, Params{"node": "lab-h1", "availability": "drain", "wait": true})
	if f.Nodes["node0001"].Spec.Availability != swarm.NodeAvailabilityDrain {
		t.Fatal("not drained")
	}
	if r := mustRun(t, "node", target(false), f, Params{"node": "lab-h1", "availability": "drain", "role": "manager"}); r.Changed {
		t.Fatalf("second run: %+v", r)
	}
}

func TestNetwork(t *testing.T) {
	f := newFakeManager()
	p := Params{"name": "appnet", "attachable": true, "encrypted": true, "subnet": "10.20.0.0/24", "labels": map[string]any{"team": "ops"}}
	if r := mustRun(t, "network", target(true), f, p); !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check: %+v", r)
	}
	r := mustRun(t, "network", target(false), f, p)
	if !r.Changed || r.Outputs["id"] == nil {
		t.Fatalf("create: %+v", r)
	}
	f.Calls = nil
	if r := mustRun(t, "network", target(false), f, p); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("second run: %+v %v", r, f.Calls)
	}
	q := Params{"name": "appnet", "attachable": true, "subnet": "10.20.0.0/24", "labels": map[string]any{"team": "ops"}}
	if _, err := run(t, "network", target(false), f, q); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("differs: %v", err)
	}
	// In use: recreate is refused, naming the service.
	id := r.Outputs["id"].(string)
	f.Services["s1"] = &swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web_web"}, TaskTemplate: swarm.TaskSpec{Networks: []swarm.NetworkAttachmentConfig{{Target: id}}}}}
	q["recreate"] = true
	if _, err := run(t, "network", target(false), f, q); err == nil || !strings.Contains(err.Error(), "web_web") {
		t.Fatalf("recreate in use: %v", err)
	}
	delete(f.Services, "s1")
	mustRun(t, "network", target(false), f, q)
	if strings.Join(f.Calls, ";") != "NetworkRemove appnet;NetworkCreate appnet" {
		t.Fatalf("recreate: %v", f.Calls)
	}
	n, _ := f.NetworkInspect(context.Background(), "appnet", network.InspectOptions{})
	if _, enc := n.Options["encrypted"]; enc {
		t.Fatal("still encrypted")
	}
}

func TestSecretRotation(t *testing.T) {
	f := newFakeManager()
	p := Params{"name": "pw", "data": "one", "rotate": true, "keep": int64(2)}
	r := mustRun(t, "secret", target(false), f, p)
	if r.Outputs["name"] != "pw" || !r.Changed {
		t.Fatalf("v1: %+v", r)
	}
	if r := mustRun(t, "secret", target(false), f, p); r.Changed {
		t.Fatalf("second run: %+v", r)
	}
	p["data"] = "two"
	r = mustRun(t, "secret", target(true), f, p)
	if r.Outputs["name"] != "pw_v2" || !r.Changed || strings.Contains(r.Diff, "two") {
		t.Fatalf("check v2: %+v", r)
	}
	r = mustRun(t, "secret", target(false), f, p)
	if r.Outputs["name"] != "pw_v2" {
		t.Fatalf("v2: %+v", r)
	}
	// v1 is used by a service: kept beyond `keep`.
	for id, s := range f.Secrets {
		if s.Spec.Name == "pw" {
			f.Services["s1"] = &swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "app"},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: id, SecretName: "pw"}}}}}}
		}
	}
	p["data"] = "three"
	mustRun(t, "secret", target(false), f, p)
	if len(f.Secrets) != 3 {
		t.Fatalf("in-use v1 must stay: %d secrets", len(f.Secrets))
	}
	delete(f.Services, "s1")
	p["data"] = "four"
	r = mustRun(t, "secret", target(false), f, p)
	names := map[string]bool{}
	for _, s := range f.Secrets {
		names[s.Spec.Name] = true
	}
	if r.Outputs["name"] != "pw_v4" || len(names) != 2 || !names["pw_v3"] || !names["pw_v4"] {
		t.Fatalf("keep 2: %v %v", r.Outputs, names)
	}
	// Back to an old value that still exists: no new version.
	p["data"] = "three"
	if r := mustRun(t, "secret", target(false), f, p); r.Changed || r.Outputs["name"] != "pw_v3" {
		t.Fatalf("old value: %+v", r)
	}
}

func TestSecretReplaceAndConfig(t *testing.T) {
	f := newFakeManager()
	mustRun(t, "secret", target(false), f, Params{"name": "s", "data": "a", "labels": map[string]any{"x": "1"}})
	f.Calls = nil
	r := mustRun(t, "secret", target(false), f, Params{"name": "s", "data": "a", "labels": map[string]any{"x": "2"}})
	if !r.Changed || strings.Join(f.Calls, ";") != "SecretUpdate s" {
		t.Fatalf("labels: %+v %v", r, f.Calls)
	}
	f.Calls = nil
	mustRun(t, "secret", target(false), f, Params{"name": "s", "data": "b", "labels": map[string]any{"x": "2"}})
	if strings.Join(f.Calls, ";") != "SecretRemove s;SecretCreate s" {
		t.Fatalf("replace: %v", f.Calls)
	}
	// Config from a file beside the playbook; --diff shows content.
	mustRun(t, "config", target(false), f, Params{"name": "c", "src": "web.conf"})
	if r := mustRun(t, "config", target(false), f, Params{"name": "c", "src": "web.conf"}); r.Changed {
		t.Fatalf("config second run: %+v", r)
	}
	r = mustRun(t, "config", target(true), f, Params{"name": "c", "data": "greeting = \"hi\"\n"})
	if !strings.Contains(r.Diff, `+greeting = "hi"`) {
		t.Fatalf("config diff: %q", r.Diff)
	}
}

func TestImage(t *testing.T) {
	src, id := testImageArchive(t)
	dir := filepath.Dir(src)
	tg := target(false)
	tg.Dir = dir
	f := newFakeManager()
	if r := mustRun(t, "image", target(true), f, Params{"src": src}); !r.Changed || len(f.Calls) != 0 || r.Outputs["id"] != id {
		t.Fatalf("check: %+v", r)
	}
	mustRun(t, "image", tg, f, Params{"src": "img.tar"})
	if len(f.Loaded) != 1 || f.Images["x/y:latest"].ID != id {
		t.Fatalf("load: %v", f.Images)
	}
	if r := mustRun(t, "image", tg, f, Params{"src": "img.tar"}); r.Changed || len(f.Loaded) != 1 {
		t.Fatalf("second: %+v", r)
	}
	// The tag moved to another image: load again.
	f.Images["x/y:latest"] = f.Images["other"]
	if r := mustRun(t, "image", tg, f, Params{"src": "img.tar"}); !r.Changed {
		t.Fatalf("moved tag: %+v", r)
	}
}
