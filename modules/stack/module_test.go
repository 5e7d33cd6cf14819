package stack

import (
	"context"
	"testing"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// run calls the stack module with defaults applied as the runtime does,
// against api (the fake engine of modules/internal/fakeengine).
func run(t *testing.T, tgt *modules.Target, api client.APIClient, p modules.Params) (*modules.Result, error) {
	t.Helper()
	m, ok := modules.Get("stack")
	if !ok {
		t.Fatal("module stack not registered")
	}
	full, err := m.WithDefaults(p)
	if err != nil {
		t.Fatal(err)
	}
	return runStack(context.Background(), tgt, full, api)
}

func target(check bool) *modules.Target {
	return &modules.Target{Name: "h1", Address: "198.18.0.11", Check: check, Diff: true, Dir: "../../testdata/e2e/swarm"}
}

func mustRun(t *testing.T, tgt *modules.Target, api client.APIClient, p modules.Params) *modules.Result {
	t.Helper()
	r, err := run(t, tgt, api, p)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	return r
}
