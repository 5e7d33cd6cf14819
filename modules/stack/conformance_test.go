package stack

// The kit's conformance check (modules/internal/kittest) for the modules
// of this package, against the fake engine: what a run touches is the
// engine's log of mutating calls.

import (
	"slices"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/modules/internal/fakeengine"
	"github.com/swarmrun/swarmrun/modules/internal/kittest"
)

// conformCase is one fixture: the module it runs and its runner.
type conformCase struct {
	module string
	runner func(t *testing.T) kittest.Runner
}

var conformCases = map[string]conformCase{
	// simple.yml on an empty swarm: a network, a secret, a config and two
	// services to create.
	"deploy": {"stack", func(t *testing.T) kittest.Runner {
		return engineRunner(t, fakeengine.NewManager(), modules.Params{"name": "s", "compose": "simple.yml"})
	}},
	// web.yml deployed, then its replicas and an environment value changed.
	"update": {"stack", func(t *testing.T) kittest.Runner {
		f := fakeengine.NewManager()
		externals(t, f)
		mustRun(t, target(false), f, stackParams())
		p := stackParams()
		p["env"].(map[string]any)["REPLICAS"] = "2"
		p["env"].(map[string]any)["GREETING"] = "s3cr3t"
		return engineRunner(t, f, p)
	}},
	// simple.yml deployed, then removed.
	"remove": {"stack", func(t *testing.T) kittest.Runner {
		f := fakeengine.NewManager()
		mustRun(t, target(false), f, modules.Params{"name": "s", "compose": "simple.yml"})
		return engineRunner(t, f, modules.Params{"name": "s", "state": "absent"})
	}},
}

// engineRunner runs the stack module with p against the fake engine f.
func engineRunner(t *testing.T, f *fakeengine.Engine, p modules.Params) kittest.Runner {
	return kittest.Runner{
		Run: func(check bool) (kittest.Outcome, error) {
			r, err := run(t, target(check), f, p)
			if r == nil {
				return kittest.Outcome{}, err
			}
			return kittest.Outcome{Changed: r.Changed, Changes: r.Changes, Msg: r.Msg, Diff: r.Diff}, err
		},
		Touched: func() any { return slices.Clone(f.Calls) },
	}
}

func TestKitConformance(t *testing.T) {
	for name, c := range conformCases {
		t.Run(name, func(t *testing.T) { kittest.Conform(t, c.runner(t)) })
	}
}

// Every module this package registers has a conformance case.
func TestKitConformanceCoversModules(t *testing.T) {
	if len(registered) == 0 {
		t.Fatal("no module registered through register")
	}
	covered := map[string]bool{}
	for _, c := range conformCases {
		covered[c.module] = true
	}
	for _, m := range registered {
		if !covered[m] {
			t.Errorf("module %s has no conformance case", m)
		}
	}
}

// An update names the fields that differ, each once, in the diff's order.
func TestServiceWhat(t *testing.T) {
	s := servicePlan{Name: "web_web", Action: "update", Changes: []string{
		`Labels.com.example.rev: "1" -> "2"`, "Mode.Replicated.Replicas: 3 -> 2",
		"TaskTemplate.ContainerSpec.Env: ~ GREETING (value changed)", "TaskTemplate.ContainerSpec.Env: + X",
		"TaskTemplate.Placement.Constraints[0]: (none) -> \"node.role==manager\"",
	}}
	if got, want := s.what(), "update service web_web (labels, replicas, env, placement)"; got != want {
		t.Errorf("what %q, want %q", got, want)
	}
	if got := (&servicePlan{Name: "web_old", Action: "remove"}).what(); got != "remove service web_old" {
		t.Errorf("remove: %q", got)
	}
}
