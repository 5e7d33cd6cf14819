package modules

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The kit's conformance test: every module runs --check and then for real
// on a fixture, and both must report the same change list in the one
// wording of modules/kit.go; a second real run must change nothing.

// kitFixture prepares a module's first (changing) run in dir and returns its
// parameters.
type kitFixture func(t *testing.T, dir string) map[string]any

var kitFixtures = map[string]kitFixture{
	"copy": func(t *testing.T, dir string) map[string]any {
		return map[string]any{"dest": dir + "/c.txt", "content": "hello\n", "mode": "0640"}
	},
	"daemon_json": func(t *testing.T, dir string) map[string]any {
		// An existing file: the update keeps it as .bak. No restart here
		// (faults_test.go in cmd/swarmrun/e2e covers the roll-back).
		if err := os.WriteFile(dir+"/daemon.json", []byte(`{"debug": false}`), 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"path": dir + "/daemon.json", "validate": false, "config": map[string]any{"log-driver": "local"}}
	},
	"fetch": func(t *testing.T, dir string) map[string]any {
		if err := os.WriteFile(dir+"/remote.txt", []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"src": dir + "/remote.txt", "dest": dir + "/got/", "flat": true}
	},
	"file": func(t *testing.T, dir string) map[string]any {
		return map[string]any{"path": dir + "/d", "state": "directory", "mode": "0750"}
	},
	"lineinfile": func(t *testing.T, dir string) map[string]any {
		// A content change and a mode change: two changes, one write.
		if err := os.WriteFile(dir+"/a.conf", []byte("x=1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"path": dir + "/a.conf", "line": "y=2", "mode": "0600"}
	},
	"limits": func(t *testing.T, dir string) map[string]any {
		return map[string]any{"file": dir + "/limits.d/99-test.conf", "entries": []any{map[string]any{"domain": "*", "type": "soft", "item": "nofile", "value": 65536}}}
	},
	"sysctl": func(t *testing.T, dir string) map[string]any {
		// File only: the live values are the machine's.
		return map[string]any{"file": dir + "/99-test.conf", "reload": false, "values": map[string]any{"net.ipv4.ip_forward": 1}}
	},
}

// kitTodo are the modules that do not go through the kit yet, with why.
// The Docker modules can join through the fake engine in
// modules/internal/fakeengine once they move onto the kit.
var kitTodo = map[string]string{
	"apt":            "through the kit, but no local fixture: it installs packages on the machine (TestHostPrep covers it on lab hosts)",
	"apt_repository": "through the kit, but no local fixture: its files are fixed paths under /etc/apt (TestHostPrep covers it on lab hosts)",
	"command":        "not on the kit yet: its creates/removes guards run in the same round trip as the command, so whether it runs is known only afterwards; the gate needs a change decided on the host first",
	"config":         "Docker module (fake engine): not on the kit yet",
	"docker_user":    "through the kit, but no local fixture: it loads iptables rules (docker_user_test.go checks check mode in a network namespace; TestHostPrep covers it on lab hosts)",
	"facts":          "through the kit, read-only: it never changes anything",
	"image":          "Docker module (fake engine): not on the kit yet",
	"modprobe":       "through the kit, but no local fixture: it loads kernel modules and writes fixed paths under /etc (TestHostPrep covers it on lab hosts)",
	"network":        "Docker module (fake engine): not on the kit yet",
	"node":           "Docker module (fake engine): not on the kit yet",
	"node_label":     "Docker module (fake engine): not on the kit yet",
	"node_prune":     "Docker module (fake engine): not on the kit yet",
	"node_remove":    "Docker module (fake engine): not on the kit yet",
	"preflight":      "through the kit, read-only (its listener is a probe, not a change); preflight_test.go runs it in network namespaces",
	"quorum_guard":   "Docker module (fake engine): not on the kit yet",
	"reboot":         "through the kit; its fixture is the in-process SSH server of reboot_test.go (TestReboot checks \"would reboot\" and the real reboot), which this table cannot start yet",
	"secret":         "Docker module (fake engine): not on the kit yet",
	"service":        "through the kit, but no local fixture: it starts and enables real services (TestHostPrep covers it on lab hosts)",
	"shell":          "not on the kit yet: shares runCmd with command (see there)",
	"stack":          "in modules/stack (pure plan in plan.go), not on the kit's gate yet",
	"stack_remove":   "in modules/stack, not on the kit's gate yet",
	"swarm_init":     "Docker module (fake engine): not on the kit yet",
	"swarm_join":     "Docker module (fake engine): not on the kit yet",
	"swarm_leave":    "Docker module (fake engine): not on the kit yet",
	"swarm_rotate":   "Docker module (fake engine): not on the kit yet",
	"swarm_unlock":   "Docker module (fake engine): not on the kit yet",
	"ufw":            "through the kit, but no local fixture: it changes the machine's firewall (TestHostPrep and TestNetworkFirewall cover it on lab hosts)",
	"wait_for":       "through the kit, but it never changes anything (wait_for_test.go checks its check-mode note)",
}

// kitRunner runs a module once on its fixture, in check mode or for real;
// touched says what the host looks like, so a check run can be shown to
// change nothing.
type kitRunner struct {
	run     func(check bool) (*Result, error)
	touched func() any
}

// kitEngineFixtures is the hook for the Docker modules: a fixture builds a
// fake engine (swarm_fake_test.go), returns a runner around
// run(t, name, target(check), engine, params) (swarm_test.go) and, as
// touched, the engine's call log. Empty until they move onto the kit.
var kitEngineFixtures = map[string]func(t *testing.T) kitRunner{}

func TestKitConformance(t *testing.T) {
	for _, m := range All() {
		fx, local := kitFixtures[m.Name]
		efx, engine := kitEngineFixtures[m.Name]
		if _, todo := kitTodo[m.Name]; todo && (local || engine) {
			t.Errorf("module %s has a fixture but is still listed as TODO", m.Name)
		}
		switch {
		case local:
			t.Run(m.Name, func(t *testing.T) { kitConform(t, kitLocal(t, m.Name, fx)) })
		case engine:
			t.Run(m.Name, func(t *testing.T) { kitConform(t, efx(t)) })
		default:
			if why, todo := kitTodo[m.Name]; todo {
				t.Logf("%s: TODO: %s", m.Name, why)
			} else {
				t.Errorf("module %s has no conformance fixture and no TODO entry", m.Name)
			}
		}
	}
}

// kitLocal runs a module through the local connection in a temporary
// directory, which is what it touches.
func kitLocal(t *testing.T, module string, fx kitFixture) kitRunner {
	tg := genTarget(t)
	given := fx(t, tg.Dir)
	return kitRunner{
		run:     func(check bool) (*Result, error) { return genRun(t, tg, check, module, given) },
		touched: func() any { return genSnapshot(t, tg.Dir) },
	}
}

func kitConform(t *testing.T, r kitRunner) {
	before := r.touched()
	check, err := r.run(true)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if after := r.touched(); !reflect.DeepEqual(before, after) {
		t.Fatalf("check mode changed the host:\nbefore %v\nafter  %v", before, after)
	}
	real, err := r.run(false)
	if err != nil {
		t.Fatalf("real: %v", err)
	}
	if !check.Changed || !real.Changed || len(real.Changes) == 0 {
		t.Fatalf("the fixture must change something: check %+v, real %+v", check, real)
	}
	if !reflect.DeepEqual(check.Changes, real.Changes) {
		t.Errorf("check reports %q, the real run %q", check.Changes, real.Changes)
	}
	t.Logf("check: %q; real: %q", check.Msg, real.Msg)
	list := strings.Join(real.Changes, ", ")
	if !kitWording(real.Msg, list) || !kitWording(check.Msg, "would "+list) {
		t.Errorf("wording: check %q, real %q, changes %q", check.Msg, real.Msg, real.Changes)
	}
	if check.Diff != real.Diff {
		t.Errorf("check diff %q != real diff %q", check.Diff, real.Diff)
	}
	for _, c := range []bool{false, true} {
		again, err := r.run(c)
		if err != nil || again.Changed || len(again.Changes) != 0 {
			t.Errorf("again (check=%v): %+v %v", c, again, err)
		}
	}
}

// kitWording says whether msg is the gate's message for the change list:
// the list, then optionally "; " and notes.
func kitWording(msg, list string) bool {
	return msg == list || strings.HasPrefix(msg, list+"; ")
}
