package stack

// The stack module against the fake engine (modules/internal/fakeengine).
// The external network and secret the stack uses are set up in the
// engine directly (the network and secret modules are modules' own).

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/modules/internal/fakeengine"
)

// externals creates what the playbook's network and secret steps would
// before the stack: the attachable overlay network appnet and the secret pw.
func externals(t *testing.T, f *fakeengine.Engine) {
	t.Helper()
	o := network.CreateOptions{Driver: "overlay", Scope: "swarm", Attachable: true}
	if _, err := f.NetworkCreate(context.Background(), "appnet", o); err != nil {
		t.Fatal(err)
	}
	createSecret(t, f, "pw", "x")
}

func createSecret(t *testing.T, f *fakeengine.Engine, name, data string) {
	t.Helper()
	spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}, Data: []byte(data)}
	if _, err := f.SecretCreate(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
}

func stackParams() modules.Params {
	return modules.Params{"name": "web", "compose": "web.yml", "env": map[string]any{"SECRET_NAME": "pw", "NETWORK": "appnet"}}
}

func TestStackIdempotent(t *testing.T) {
	f := fakeengine.NewManager()
	externals(t, f)
	f.Calls = nil

	// --check predicts and touches nothing.
	r := mustRun(t, target(true), f, stackParams())
	if !r.Changed || len(f.Calls) != 0 || !strings.Contains(r.Diff, "+ service web_web") || !strings.Contains(r.Diff, "+ config web_web_conf") {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r = mustRun(t, target(false), f, stackParams())
	if strings.Join(f.Calls, ";") != "ConfigCreate web_web_conf;ServiceCreate web_web" {
		t.Fatalf("deploy: %v", f.Calls)
	}
	var svc *swarm.Service
	for _, s := range f.Services {
		svc = s
	}
	if svc.Spec.TaskTemplate.Networks[0].Target == "appnet" || *svc.Spec.Mode.Replicated.Replicas != 3 {
		t.Fatalf("engine spec: %+v", svc.Spec)
	}
	version := svc.Version.Index

	// Again: nothing changes, no update call, version unchanged.
	f.Calls = nil
	for _, check := range []bool{true, false} {
		r = mustRun(t, target(check), f, stackParams())
		if r.Changed || len(f.Calls) != 0 || r.Diff != "" {
			t.Fatalf("re-run (check=%v): changed=%v calls=%v diff=%q", check, r.Changed, f.Calls, r.Diff)
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
	r = mustRun(t, target(true), f, p)
	if !strings.Contains(r.Diff, "Mode.Replicated.Replicas: 3 -> 2") || !strings.Contains(r.Diff, "~ GREETING (value changed)") || strings.Contains(r.Diff, "s3cr3t") {
		t.Fatalf("plan: %q", r.Diff)
	}
	mustRun(t, target(false), f, p)
	if *svc.Spec.Mode.Replicated.Replicas != 2 || svc.Version.Index != version+1 {
		t.Fatalf("update: %+v", svc)
	}

	// Rotated secret: the service follows the new name.
	createSecret(t, f, "pw_v2", "y")
	p["env"].(map[string]any)["SECRET_NAME"] = "pw_v2"
	r = mustRun(t, target(false), f, p)
	if r.Outputs["updated"].([]any)[0] != "web_web" || svc.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretName != "pw_v2" {
		t.Fatalf("rotate: %+v", r)
	}
}

func TestStackDefinesObjectsAndPrunes(t *testing.T) {
	f := fakeengine.NewManager()
	p := modules.Params{"name": "s", "compose": "simple.yml", "prune": true}
	// --check when the stack's secret/config don't exist yet still plans.
	if r := mustRun(t, target(true), f, p); !r.Changed || len(f.Calls) != 0 {
		t.Fatalf("check: %+v", r)
	}
	mustRun(t, target(false), f, p)
	want := "NetworkCreate s_default;SecretCreate s_token;ConfigCreate s_settings;ServiceCreate s_agent;ServiceCreate s_api"
	if strings.Join(f.Calls, ";") != want {
		t.Fatalf("calls %v", f.Calls)
	}
	f.Calls = nil
	if r := mustRun(t, target(false), f, p); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("second: %+v %v", r, f.Calls)
	}
	// The file's secret changed: refused (immutable).
	dir := t.TempDir()
	for _, n := range []string{"simple.yml", "web.conf"} {
		b, _ := os.ReadFile(filepath.Join("../../testdata/e2e/swarm", n))
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "token.txt"), []byte("other"), 0o600)
	tg := target(false)
	tg.Dir = dir
	if _, err := run(t, tg, f, p); err == nil || !strings.Contains(err.Error(), "s_token") || strings.Contains(err.Error(), "other") {
		t.Fatalf("changed secret: %v", err)
	}
	// Prune: a stack service the file no longer has.
	f.Services["old"] = &swarm.Service{ID: "old", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "s_old", Labels: map[string]string{"com.docker.stack.namespace": "s"}}, Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}}}
	one := uint64(1)
	f.Services["old"].Spec.Mode.Replicated.Replicas = &one
	r := mustRun(t, target(false), f, p)
	if strings.Join(f.Calls, ";") != "ServiceRemove s_old" || r.Outputs["removed"].([]any)[0] != "s_old" {
		t.Fatalf("prune: %v %+v", f.Calls, r.Outputs)
	}
}

// A service on the external "bridge" network: the engine stores the
// swarm's own ID of it, which the network list does not show. A re-run
// must still change nothing (it updated the service on every run).
func TestStackBridgeNetworkIdempotent(t *testing.T) {
	f := fakeengine.NewManager()
	f.Networks["localbridge"] = &network.Inspect{ID: "localbridge", Name: "bridge", Driver: "bridge", Scope: "local"}
	f.SwarmNets = map[string]string{"swarmbridge": "bridge"}
	dir := t.TempDir()
	compose := "version: '3.8'\nservices:\n  app:\n    image: nginx:alpine\n    networks: [outside]\nnetworks:\n  outside:\n    external: true\n    name: bridge\n"
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := target(false)
	tg.Dir = dir
	p := modules.Params{"name": "b", "compose": "b.yml"}
	mustRun(t, tg, f, p)
	var svc *swarm.Service
	for _, s := range f.Services {
		svc = s
	}
	if svc == nil || svc.Spec.TaskTemplate.Networks[0].Target != "swarmbridge" {
		t.Fatalf("service %+v", svc)
	}
	version := svc.Version.Index
	f.Calls = nil
	for _, check := range []bool{true, false} {
		tg.Check = check
		if r := mustRun(t, tg, f, p); r.Changed || len(f.Calls) != 0 {
			t.Fatalf("re-run (check=%v): changed %v, calls %v, diff %q", check, r.Changed, f.Calls, r.Diff)
		}
	}
	if svc.Version.Index != version {
		t.Fatal("service version bumped")
	}
}

// stack(state = "absent") removes the stack's services and its own
// config, keeps external objects (the network and secret made outside),
// predicts exactly under --check, and changes nothing the second time.
func TestStackAbsent(t *testing.T) {
	f := fakeengine.NewManager()
	externals(t, f)
	mustRun(t, target(false), f, stackParams())
	f.Calls = nil
	gone := modules.Params{"name": "web", "state": "absent"}
	r := mustRun(t, target(true), f, gone)
	if !r.Changed || len(f.Calls) != 0 || r.Diff != "- service web_web\n- config web_web_conf\n" {
		t.Fatalf("check: %+v %v", r, f.Calls)
	}
	r = mustRun(t, target(false), f, gone)
	if !r.Changed || strings.Join(f.Calls, ";") != "ServiceRemove web_web;ConfigRemove web_web_conf" {
		t.Fatalf("remove: %+v %v", r, f.Calls)
	}
	if len(f.Networks) != 2 || len(f.Secrets) != 1 {
		t.Errorf("external objects removed: %d networks, %d secrets", len(f.Networks), len(f.Secrets))
	}
	f.Calls = nil
	if r := mustRun(t, target(false), f, gone); r.Changed || len(f.Calls) != 0 {
		t.Fatalf("second run: %+v %v", r, f.Calls)
	}
}
