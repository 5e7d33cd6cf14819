package modules

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/modules/internal/kittest"
)

// The kit's conformance test: every module runs --check and then for real
// on a fixture, and both must report the same change list in the one
// wording of modules/kit.go; a second real run must change nothing
// (modules/internal/kittest checks it; modules/stack has its own table).

// kitFixture prepares a module's first (changing) run in dir and returns its
// parameters.
type kitFixture func(t *testing.T, dir string) map[string]any

var kitFixtures = map[string]kitFixture{
	"command": func(t *testing.T, dir string) map[string]any {
		// The guard is what makes the second run change nothing.
		return map[string]any{"argv": []any{"touch", dir + "/made"}, "creates": dir + "/made"}
	},
	"shell": func(t *testing.T, dir string) map[string]any {
		return map[string]any{"cmd": "echo made > out", "chdir": dir, "creates": dir + "/out"}
	},
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

// kitReadOnlyFixtures are the modules that never change anything: each
// runs through kittest.ReadOnly on the local connection in a temporary
// directory.
var kitReadOnlyFixtures = map[string]kitFixture{
	"facts": func(t *testing.T, dir string) map[string]any { return map[string]any{} },
	"preflight": func(t *testing.T, dir string) map[string]any {
		// No peers, no minimums, a wide clock skew: the local checks only,
		// whose message is the same on every run (strict = False: a kernel
		// feature the test machine lacks is reported, not failed).
		return map[string]any{"action": "check", "peers": []any{}, "strict": false, "max_clock_skew": 3600.0,
			"min_memory_mb": int64(0), "min_cpus": int64(0), "min_disk_gb": int64(0)}
	},
	"wait_for": func(t *testing.T, dir string) map[string]any {
		return map[string]any{"path": dir, "wait_timeout": int64(5)}
	},
}

// kitSSHFixtures run a module over SSH against an in-process server.
var kitSSHFixtures = map[string]func(t *testing.T) kittest.Runner{
	"reboot": kitReboot, // reboot_test.go
}

// kitOnLab are the modules that change the machine itself (packages,
// kernel modules, services, firewall): their conformance runs on lab hosts,
// in these subtests of cmd/swarmrun/e2e/hostprep_test.go, through hpConform
// (TestKitOnLab checks they exist).
var kitOnLab = map[string]string{
	"apt":            "TestHostprep/apt",
	"apt_repository": "TestHostprep/apt_repository",
	"docker_user":    "TestHostprep/docker_user",
	"modprobe":       "TestHostprep/modprobe",
	"service":        "TestHostprep/service",
	"ufw":            "TestHostprep/ufw",
}

// kitEngineFixtures are the Docker modules' fixtures: each builds a fake
// engine (swarm_fake_test.go) and returns kitEngine's runner. A module
// family adds its own from init in conformance_<family>_test.go.
var kitEngineFixtures = map[string]func(t *testing.T) kittest.Runner{}

func TestKitConformance(t *testing.T) {
	for _, m := range All() {
		if run, ok := kitCase(m.Name); ok {
			t.Run(m.Name, run)
		} else if test, lab := kitOnLab[m.Name]; lab {
			t.Logf("%s: on lab hosts, %s", m.Name, test)
		} else {
			t.Errorf("module %s has no conformance fixture: add one to a table above", m.Name)
		}
	}
}

// kitCase is module's conformance run, from whichever table has it.
func kitCase(module string) (func(t *testing.T), bool) {
	if fx, ok := kitFixtures[module]; ok {
		return func(t *testing.T) { kittest.Conform(t, kitLocal(t, module, fx)) }, true
	}
	if fx, ok := kitReadOnlyFixtures[module]; ok {
		return func(t *testing.T) { kittest.ReadOnly(t, kitLocal(t, module, fx)) }, true
	}
	for _, table := range []map[string]func(t *testing.T) kittest.Runner{kitEngineFixtures, kitSSHFixtures} {
		if fx, ok := table[module]; ok {
			return func(t *testing.T) { kittest.Conform(t, fx(t)) }, true
		}
	}
	if fx, ok := kitEngineReadOnly[module]; ok {
		return func(t *testing.T) { kittest.ReadOnly(t, fx(t)) }, true
	}
	return nil, false
}

// kitLocal runs a module through the local connection in a temporary
// directory, which is what it touches.
func kitLocal(t *testing.T, module string, fx kitFixture) kittest.Runner {
	tg := genTarget(t)
	given := fx(t, tg.Dir)
	return kittest.Runner{
		Run:     func(check bool) (kittest.Outcome, error) { return outcome(genRun(t, tg, check, module, given)) },
		Touched: func() any { return genSnapshot(t, tg.Dir) },
	}
}

// outcome is what the kit's check reads of a Result.
func outcome(r *Result, err error) (kittest.Outcome, error) {
	if r == nil {
		return kittest.Outcome{}, err
	}
	return kittest.Outcome{Changed: r.Changed, Changes: r.Changes, Msg: r.Msg, Diff: r.Diff}, err
}

// kitEngine runs a Docker module against the fake engine e with params p;
// what it touches is the engine's log of mutating calls.
func kitEngine(t *testing.T, module string, e *fakeEngine, p Params) kittest.Runner {
	return kittest.Runner{
		Run:     func(check bool) (kittest.Outcome, error) { return outcome(run(t, module, target(check), e, p)) },
		Touched: func() any { return slices.Clone(e.Calls) },
	}
}

// TestKitOnLab: each kitOnLab entry names a registered module and a subtest
// of TestHostprep that runs hpConform.
func TestKitOnLab(t *testing.T) {
	const file = "../cmd/swarmrun/e2e/hostprep_test.go"
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	conform := map[string]bool{} // "TestHostprep/name" of subtests that call hpConform
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !strings.HasPrefix(fn.Name.Name, "Test") {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if name, body, ok := kitSubtest(n); ok && kitCalls(body, "hpConform") {
				conform[fn.Name.Name+"/"+name] = true
			}
			return true
		})
	}
	for module, test := range kitOnLab {
		if _, ok := Get(module); !ok {
			t.Errorf("kitOnLab: no module %s", module)
		}
		if _, ok := kitCase(module); ok {
			t.Errorf("kitOnLab: %s also has a fixture", module)
		}
		if !conform[test] {
			t.Errorf("kitOnLab: %s: %s has no subtest %s that calls hpConform (found %v)", module, file, test, conform)
		}
	}
}

// kitSubtest matches t.Run("name", func(...) {...}).
func kitSubtest(n ast.Node) (string, *ast.BlockStmt, bool) {
	call, ok := n.(*ast.CallExpr)
	if !ok || len(call.Args) != 2 {
		return "", nil, false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	lit, okName := call.Args[0].(*ast.BasicLit)
	fn, okFn := call.Args[1].(*ast.FuncLit)
	if !ok || sel.Sel.Name != "Run" || !okName || lit.Kind != token.STRING || !okFn {
		return "", nil, false
	}
	name, err := strconv.Unquote(lit.Value)
	return name, fn.Body, err == nil
}

// kitCalls says whether body calls the function named fn.
func kitCalls(body *ast.BlockStmt, fn string) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == fn {
				found = true
			}
		}
		return !found
	})
	return found
}
