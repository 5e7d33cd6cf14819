package modules

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func run(t *testing.T, name string, tgt *Target, api client.APIClient, p Params) (*Result, error) {
	t.Helper()
	m, ok := Get(name)
	if !ok {
		t.Fatalf("module %s not registered", name)
	}
	// Defaults as the runtime applies them.
	full := Params{}
	for _, ps := range m.Params {
		if ps.Default != nil {
			full[ps.Name] = ps.Default
		}
	}
	for k, v := range p {
		found := false
		for _, ps := range m.Params {
			found = found || ps.Name == k
		}
		if !found {
			t.Fatalf("%s has no parameter %s", name, k)
		}
		full[k] = v
	}
	var fn func(context.Context, *Target, Params, client.APIClient) (*Result, error)
	switch name {
	case "swarm_init":
		fn = runSwarmInit
	case "swarm_join":
		fn = runSwarmJoin
	case "node_label":
		fn = runNodeLabel
	case "node":
		fn = runNode
	case "quorum_guard":
		fn = runQuorumGuard
	case "swarm_leave":
		fn = runSwarmLeave
	case "node_prune":
		fn = runNodePrune
	case "swarm_unlock":
		fn = runSwarmUnlock
	case "network":
		fn = runNetwork
	case "stack":
		fn = runStack
	case "image":
		fn = runImage
	case "secret":
		fn = func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
			return runFileObject(ctx, t, p, secretKind{api})
		}
	case "config":
		fn = func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
			return runFileObject(ctx, t, p, configKind{api})
		}
	}
	return fn(context.Background(), tgt, full, api)
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

func TestSchemasDocumented(t *testing.T) {
	for _, n := range []string{"swarm_init", "swarm_join", "node_label", "node", "network", "secret", "config", "stack", "image"} {
		m, ok := Get(n)
		if !ok {
			t.Fatalf("%s not registered", n)
		}
		if !strings.Contains(m.Doc, "\n\n") || !strings.Contains(m.Doc, n+"(") {
			t.Errorf("%s: doc needs a summary line, details and an example", n)
		}
		for _, p := range m.Params {
			if p.Doc == "" {
				t.Errorf("%s.%s: no doc", n, p.Name)
			}
			if p.Name == "timeout" {
				t.Errorf("%s: timeout is a common argument the runtime consumes", n)
			}
			if (p.Name == "token" || (n == "secret" && p.Name == "data")) && !p.Sensitive {
				t.Errorf("%s.%s must be sensitive", n, p.Name)
			}
		}
		if len(m.Outputs) == 0 {
			t.Errorf("%s: outputs undocumented", n)
		}
	}
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

func TestSwarmInit(t *testing.T) {
	f := newFakeInactive()
	r := mustRun(t, "swarm_init", target(true), f, Params{})
	if !r.Changed || len(f.calls) != 0 {
		t.Fatalf("check: changed=%v calls=%v", r.Changed, f.calls)
	}
	r = mustRun(t, "swarm_init", target(false), f, Params{"cert_expiry": "720h"})
	if !r.Changed || f.calls[0] != "SwarmInit 198.18.0.11 force=false" {
		t.Fatalf("init: %+v %v", r, f.calls)
	}
	if r.Outputs["addr"] != "198.18.0.11:2377" || r.Outputs["worker_token"] != f.sw.JoinTokens.Worker || r.Outputs["cluster_id"] != "cluster1" {
		t.Fatalf("outputs %v", r.Outputs)
	}
	f.calls = nil
	r = mustRun(t, "swarm_init", target(false), f, Params{"cert_expiry": "720h"})
	if r.Changed || len(f.calls) != 0 {
		t.Fatalf("second run changed: %+v %v", r, f.calls)
	}
	// An updatable setting: predicted under --check (tokens still output),
	// then applied.
	r = mustRun(t, "swarm_init", target(true), f, Params{"task_history_limit": int64(2)})
	if !r.Changed || len(f.calls) != 0 || r.Outputs["manager_token"] == nil || !strings.Contains(r.Diff, "task_history_limit") {
		t.Fatalf("check update: %+v %v", r, f.calls)
	}
	mustRun(t, "swarm_init", target(false), f, Params{"task_history_limit": int64(2)})
	if *f.sw.Spec.Orchestration.TaskHistoryRetentionLimit != 2 || f.sw.Spec.CAConfig.NodeCertExpiry != 720*time.Hour {
		t.Fatalf("spec %+v", f.sw.Spec)
	}
	if _, err := run(t, "swarm_init", target(false), f, Params{"data_path_port": int64(4790)}); err == nil {
		t.Fatal("a fixed setting that differs must fail")
	}
}

func TestSwarmJoin(t *testing.T) {
	tok := fakeToken(fakeCA, "w")
	p := Params{"manager": "198.18.0.11", "token": tok}
	f := newFakeInactive()
	if r := mustRun(t, "swarm_join", target(true), f, p); !r.Changed || len(f.calls) != 0 {
		t.Fatalf("check: %+v %v", r, f.calls)
	}
	r := mustRun(t, "swarm_join", target(false), f, p)
	if !r.Changed || f.calls[0] != "SwarmJoin 198.18.0.11:2377" || r.Outputs["role"] != "worker" {
		t.Fatalf("join: %+v %v", r, f.calls)
	}
	// Now a worker: no cluster info, no readable CA (no connection); the
	// manager address among its managers says it is joined.
	f.calls = nil
	if r := mustRun(t, "swarm_join", target(false), f, p); r.Changed || len(f.calls) != 0 {
		t.Fatalf("second run: %+v %v", r, f.calls)
	}
	// A worker of another swarm.
	other := Params{"manager": "198.18.5.11:2377", "token": tok}
	if _, err := run(t, "swarm_join", target(false), f, other); err == nil || !strings.Contains(err.Error(), "force") {
		t.Fatalf("other swarm without force: %v", err)
	}
	other["force"] = true
	mustRun(t, "swarm_join", target(false), f, other)
	if strings.Join(f.calls, ";") != "SwarmLeave force=true;SwarmJoin 198.18.5.11:2377" {
		t.Fatalf("force: %v", f.calls)
	}
	// Stuck pending after a timed-out join: leave and join again.
	f.calls = nil
	f.info.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStatePending}
	mustRun(t, "swarm_join", target(false), f, p)
	if strings.Join(f.calls, ";") != "SwarmLeave force=true;SwarmJoin 198.18.0.11:2377" {
		t.Fatalf("pending: %v", f.calls)
	}
	// A manager compares its root CA with the token's digest.
	m := newFakeManager()
	if r := mustRun(t, "swarm_join", target(false), m, Params{"manager": "198.18.9.9", "token": m.sw.JoinTokens.Manager}); r.Changed || r.Outputs["role"] != "manager" {
		t.Fatalf("manager: %+v", r)
	}
	if _, err := run(t, "swarm_join", target(false), m, Params{"manager": "198.18.0.11", "token": fakeToken("other CA", "m")}); err == nil {
		t.Fatal("manager of another swarm (CA differs) must fail")
	}
	if _, err := run(t, "swarm_join", target(false), m, Params{"manager": "198.18.0.11", "token": m.sw.JoinTokens.Worker}); err == nil {
		t.Fatal("manager given the worker token must fail")
	}
	if _, err := run(t, "swarm_join", target(false), m, Params{"manager": "x", "token": "nonsense"}); err == nil || strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("bad token: %v", err)
	}
}

func TestNodeLabelAndNode(t *testing.T) {
	f := newFakeManager()
	p := Params{"node": "lab-h1", "labels": map[string]any{"role": "web", "zone": "a"}}
	if r := mustRun(t, "node_label", target(true), f, p); !r.Changed || len(f.calls) != 0 || !strings.Contains(r.Diff, "+ role=web") {
		t.Fatalf("check: %+v %v", r, f.calls)
	}
	mustRun(t, "node_label", target(false), f, p)
	if r := mustRun(t, "node_label", target(false), f, p); r.Changed {
		t.Fatalf("second run: %+v", r)
	}
	r := mustRun(t, "node_label", target(false), f, Params{"node": "node0001", "labels": map[string]any{"role": "db"}, "exclusive": true})
	if got := f.nodes["node0001"].Spec.Labels; len(got) != 1 || got["role"] != "db" || !strings.Contains(r.Diff, "- zone=a") {
		t.Fatalf("exclusive: %v %q", got, r.Diff)
	}
	mustRun(t, "node_label", target(false), f, Params{"node": "lab-h1", "labels": []any{"role"}, "state": "absent"})
	if len(f.nodes["node0001"].Spec.Labels) != 0 {
		t.Fatalf("absent: %v", f.nodes["node0001"].Spec.Labels)
	}
	defer func(d time.Duration) { nodeAppearWait = d }(nodeAppearWait)
	nodeAppearWait = 0
	if _, err := run(t, "node_label", target(false), f, Params{"node": "nope", "labels": map[string]any{}}); err == nil {
		t.Fatal("unknown node must fail")
	}

	f.calls = nil
	if r := mustRun(t, "node", target(true), f, Params{"node": "lab-h1", "availability": "drain"}); !r.Changed || len(f.calls) != 0 {
		t.Fatalf("node check: %+v", r)
	}
	mustRun(t, "node", target(false), f, Params{"node": "lab-h1", "availability": "drain", "wait": true})
	if f.nodes["node0001"].Spec.Availability != swarm.NodeAvailabilityDrain {
		t.Fatal("not drained")
	}
	if r := mustRun(t, "node", target(false), f, Params{"node": "lab-h1", "availability": "drain", "role": "manager"}); r.Changed {
		t.Fatalf("second run: %+v", r)
	}
}

func TestNetwork(t *testing.T) {
	f := newFakeManager()
	p := Params{"name": "appnet", "attachable": true, "encrypted": true, "subnet": "10.20.0.0/24", "labels": map[string]any{"team": "ops"}}
	if r := mustRun(t, "network", target(true), f, p); !r.Changed || len(f.calls) != 0 {
		t.Fatalf("check: %+v", r)
	}
	r := mustRun(t, "network", target(false), f, p)
	if !r.Changed || r.Outputs["id"] == nil {
		t.Fatalf("create: %+v", r)
	}
	f.calls = nil
	if r := mustRun(t, "network", target(false), f, p); r.Changed || len(f.calls) != 0 {
		t.Fatalf("second run: %+v %v", r, f.calls)
	}
	q := Params{"name": "appnet", "attachable": true, "subnet": "10.20.0.0/24", "labels": map[string]any{"team": "ops"}}
	if _, err := run(t, "network", target(false), f, q); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("differs: %v", err)
	}
	// In use: recreate is refused, naming the service.
	id := r.Outputs["id"].(string)
	f.services["s1"] = &swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web_web"}, TaskTemplate: swarm.TaskSpec{Networks: []swarm.NetworkAttachmentConfig{{Target: id}}}}}
	q["recreate"] = true
	if _, err := run(t, "network", target(false), f, q); err == nil || !strings.Contains(err.Error(), "web_web") {
		t.Fatalf("recreate in use: %v", err)
	}
	delete(f.services, "s1")
	mustRun(t, "network", target(false), f, q)
	if strings.Join(f.calls, ";") != "NetworkRemove appnet;NetworkCreate appnet" {
		t.Fatalf("recreate: %v", f.calls)
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
	for id, s := range f.secrets {
		if s.Spec.Name == "pw" {
			f.services["s1"] = &swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "app"},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: id, SecretName: "pw"}}}}}}
		}
	}
	p["data"] = "three"
	mustRun(t, "secret", target(false), f, p)
	if len(f.secrets) != 3 {
		t.Fatalf("in-use v1 must stay: %d secrets", len(f.secrets))
	}
	delete(f.services, "s1")
	p["data"] = "four"
	r = mustRun(t, "secret", target(false), f, p)
	names := map[string]bool{}
	for _, s := range f.secrets {
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
	f.calls = nil
	r := mustRun(t, "secret", target(false), f, Params{"name": "s", "data": "a", "labels": map[string]any{"x": "2"}})
	if !r.Changed || strings.Join(f.calls, ";") != "SecretUpdate s" {
		t.Fatalf("labels: %+v %v", r, f.calls)
	}
	f.calls = nil
	mustRun(t, "secret", target(false), f, Params{"name": "s", "data": "b", "labels": map[string]any{"x": "2"}})
	if strings.Join(f.calls, ";") != "SecretRemove s;SecretCreate s" {
		t.Fatalf("replace: %v", f.calls)
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

func stackParams() Params {
	return Params{"name": "web", "compose": "web.yml", "env": map[string]any{"SECRET_NAME": "pw", "NETWORK": "appnet"}}
}

func TestStackIdempotent(t *testing.T) {
	f := newFakeManager()
	mustRun(t, "network", target(false), f, Params{"name": "appnet", "attachable": true})
	mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "x"})
	f.calls = nil

	// --check predicts and touches nothing.
	r := mustRun(t, "stack", target(true), f, stackParams())
	if !r.Changed || len(f.calls) != 0 || !strings.Contains(r.Diff, "+ service web_web") || !strings.Contains(r.Diff, "+ config web_web_conf") {
		t.Fatalf("check: %+v %v", r, f.calls)
	}
	r = mustRun(t, "stack", target(false), f, stackParams())
	if strings.Join(f.calls, ";") != "ConfigCreate web_web_conf;ServiceCreate web_web" {
		t.Fatalf("deploy: %v", f.calls)
	}
	var svc *swarm.Service
	for _, s := range f.services {
		svc = s
	}
	if svc.Spec.TaskTemplate.Networks[0].Target == "appnet" || *svc.Spec.Mode.Replicated.Replicas != 3 {
		t.Fatalf("engine spec: %+v", svc.Spec)
	}
	version := svc.Version.Index

	// Again: nothing changes, no update call, version unchanged.
	f.calls = nil
	for _, check := range []bool{true, false} {
		r = mustRun(t, "stack", target(check), f, stackParams())
		if r.Changed || len(f.calls) != 0 || r.Diff != "" {
			t.Fatalf("re-run (check=%v): changed=%v calls=%v diff=%q", check, r.Changed, f.calls, r.Diff)
		}
	}
	if svc.Version.Index != version {
		t.Fatal("version bumped")
	}

	// A changed replica count and environment: a field-level plan, env
	// values not shown.
	p := stackParams()
	p["env"].(map[string]any)["REPLICAS"] = "2"
	p["env"].(map[string]any)["GREETING"] = "s3cr3t"
	r = mustRun(t, "stack", target(true), f, p)
	if !strings.Contains(r.Diff, "Mode.Replicated.Replicas: 3 -> 2") || !strings.Contains(r.Diff, "~ GREETING (value changed)") || strings.Contains(r.Diff, "s3cr3t") {
		t.Fatalf("plan: %q", r.Diff)
	}
	mustRun(t, "stack", target(false), f, p)
	if *svc.Spec.Mode.Replicated.Replicas != 2 || svc.Version.Index != version+1 {
		t.Fatalf("update: %+v", svc)
	}

	// Rotated secret: the service follows the new name.
	mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "y", "rotate": true})
	p["env"].(map[string]any)["SECRET_NAME"] = "pw_v2"
	r = mustRun(t, "stack", target(false), f, p)
	if r.Outputs["updated"].([]any)[0] != "web_web" || svc.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretName != "pw_v2" {
		t.Fatalf("rotate: %+v", r)
	}
}

func TestStackDefinesObjectsAndPrunes(t *testing.T) {
	f := newFakeManager()
	p := Params{"name": "s", "compose": "simple.yml", "prune": true}
	// --check when the stack's secret/config don't exist yet still plans.
	if r := mustRun(t, "stack", target(true), f, p); !r.Changed || len(f.calls) != 0 {
		t.Fatalf("check: %+v", r)
	}
	mustRun(t, "stack", target(false), f, p)
	want := "NetworkCreate s_default;SecretCreate s_token;ConfigCreate s_settings;ServiceCreate s_agent;ServiceCreate s_api"
	if strings.Join(f.calls, ";") != want {
		t.Fatalf("calls %v", f.calls)
	}
	f.calls = nil
	if r := mustRun(t, "stack", target(false), f, p); r.Changed || len(f.calls) != 0 {
		t.Fatalf("second: %+v %v", r, f.calls)
	}
	// The file's secret changed: refused (immutable).
	dir := t.TempDir()
	for _, n := range []string{"simple.yml", "web.conf"} {
		b, _ := os.ReadFile(filepath.Join("../testdata/e2e/swarm", n))
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "token.txt"), []byte("other"), 0o600)
	tg := target(false)
	tg.Dir = dir
	if _, err := run(t, "stack", tg, f, p); err == nil || !strings.Contains(err.Error(), "s_token") || strings.Contains(err.Error(), "other") {
		t.Fatalf("changed secret: %v", err)
	}
	// Prune: a stack service the file no longer has.
	f.services["old"] = &swarm.Service{ID: "old", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "s_old", Labels: map[string]string{"com.docker.stack.namespace": "s"}}, Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}}}
	one := uint64(1)
	f.services["old"].Spec.Mode.Replicated.Replicas = &one
	r := mustRun(t, "stack", target(false), f, p)
	if strings.Join(f.calls, ";") != "ServiceRemove s_old" || r.Outputs["removed"].([]any)[0] != "s_old" {
		t.Fatalf("prune: %v %+v", f.calls, r.Outputs)
	}
}

func TestNormaliseSpec(t *testing.T) {
	// A converted spec and the same spec after the engine filled defaults.
	three := uint64(3)
	want := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "a", Labels: map[string]string{"x": "1"}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "i", Privileges: &swarm.Privileges{}}, Resources: &swarm.ResourceRequirements{}, Placement: &swarm.Placement{}, Networks: []swarm.NetworkAttachmentConfig{{Target: "net"}}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1},
	}
	f := newFakeManager()
	f.networks["netid"] = &network.Inspect{ID: "netid", Name: "net"}
	got := f.engineSpec(want)
	got.EndpointSpec.Ports[0].Protocol = "tcp"
	got.EndpointSpec.Ports[0].PublishMode = "ingress"
	names := map[string]string{"netid": "net"}
	if d := specDiff(normaliseSpec(got, names), normaliseSpec(want, names)); len(d) != 0 {
		t.Fatalf("differences after normalising: %v", d)
	}
	got.TaskTemplate.ContainerSpec.Image = "j"
	if d := specDiff(normaliseSpec(got, names), normaliseSpec(want, names)); len(d) != 1 || d[0] != `TaskTemplate.ContainerSpec.Image: "j" -> "i"` {
		t.Fatalf("diff %v", d)
	}
}

func TestImage(t *testing.T) {
	dir := t.TempDir()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	add("abc.json", cfg)
	add("manifest.json", []byte(`[{"Config":"abc.json","RepoTags":["x/y:latest"],"Layers":[]}]`))
	tw.Close()
	os.WriteFile(filepath.Join(dir, "img.tar"), buf.Bytes(), 0o644)
	tg := target(false)
	tg.Dir = dir
	f := newFakeManager()
	id := "sha256:" + sha256Hex(cfg)
	if r := mustRun(t, "image", target(true), f, Params{"src": filepath.Join(dir, "img.tar")}); !r.Changed || len(f.calls) != 0 || r.Outputs["id"] != id {
		t.Fatalf("check: %+v", r)
	}
	mustRun(t, "image", tg, f, Params{"src": "img.tar"})
	if len(f.loaded) != 1 || f.images["x/y:latest"].ID != id {
		t.Fatalf("load: %v", f.images)
	}
	if r := mustRun(t, "image", tg, f, Params{"src": "img.tar"}); r.Changed || len(f.loaded) != 1 {
		t.Fatalf("second: %+v", r)
	}
	// The tag moved to another image: load again.
	f.images["x/y:latest"] = f.images["other"]
	if r := mustRun(t, "image", tg, f, Params{"src": "img.tar"}); !r.Changed {
		t.Fatalf("moved tag: %+v", r)
	}
}

// A service on the external "bridge" network: the engine stores the
// swarm's own ID of it, which the network list does not show. A re-run
// must still change nothing (it updated the service on every run).
func TestStackBridgeNetworkIdempotent(t *testing.T) {
	f := newFakeManager()
	f.networks["localbridge"] = &network.Inspect{ID: "localbridge", Name: "bridge", Driver: "bridge", Scope: "local"}
	f.swarmNets = map[string]string{"swarmbridge": "bridge"}
	dir := t.TempDir()
	compose := "version: '3.8'\nservices:\n  app:\n    image: nginx:alpine\n    networks: [outside]\nnetworks:\n  outside:\n    external: true\n    name: bridge\n"
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := target(false)
	tg.Dir = dir
	p := Params{"name": "b", "compose": "b.yml"}
	mustRun(t, "stack", tg, f, p)
	var svc *swarm.Service
	for _, s := range f.services {
		svc = s
	}
	if svc == nil || svc.Spec.TaskTemplate.Networks[0].Target != "swarmbridge" {
		t.Fatalf("service %+v", svc)
	}
	version := svc.Version.Index
	f.calls = nil
	for _, check := range []bool{true, false} {
		tg.Check = check
		if r := mustRun(t, "stack", tg, f, p); r.Changed || len(f.calls) != 0 {
			t.Fatalf("re-run (check=%v): changed %v, calls %v, diff %q", check, r.Changed, f.calls, r.Diff)
		}
	}
	if svc.Version.Index != version {
		t.Fatal("service version bumped")
	}
}
