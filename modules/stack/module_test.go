package stack

import (
	"context"
	"strings"
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
	full := modules.Params{}
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
			t.Fatalf("stack has no parameter %s", k)
		}
		full[k] = v
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

// The same checks as modules' TestSchemasDocumented, for stack.
func TestSchemaDocumented(t *testing.T) {
	n := "stack"
	m, ok := modules.Get(n)
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
		if p.Name == "token" && !p.Sensitive {
			t.Errorf("%s.%s must be sensitive", n, p.Name)
		}
	}
	if len(m.Outputs) == 0 {
		t.Errorf("%s: outputs undocumented", n)
	}
}
