package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
	"github.com/swarmrun/swarmrun/vault"
	"go.starlark.net/starlark"
)

// fakeConn is a connection that reaches nothing; test modules below use only
// what the engine gives them. docker, when set, is the host's engine.
type fakeConn struct {
	name   string
	docker client.APIClient
}

func (f *fakeConn) Run(context.Context, string, connection.RunOpts) (*connection.RunResult, error) {
	return &connection.RunResult{}, nil
}
func (f *fakeConn) ReadFile(context.Context, string, bool) ([]byte, error) {
	return nil, os.ErrNotExist
}
func (f *fakeConn) Stat(context.Context, string, bool) (*connection.FileInfo, error) {
	return nil, os.ErrNotExist
}
func (f *fakeConn) WriteFile(context.Context, string, []byte, connection.WriteOpts) error { return nil }
func (f *fakeConn) Fetch(context.Context, string, string, bool) error                     { return nil }
func (f *fakeConn) DialUnix(context.Context, string) (net.Conn, error) {
	return nil, errors.New("no")
}
func (f *fakeConn) Docker(context.Context, bool) (client.APIClient, error) {
	if f.docker == nil {
		return nil, errors.New("cannot connect to the Docker daemon")
	}
	return f.docker, nil
}
func (f *fakeConn) Close() error { return nil }

// testModules are the built-in modules and the test modules registered by
// this package's init functions; play and benchEngine run with them.
var testModules = modules.Default.With()

var (
	inFlight, maxInFlight atomic.Int64
	flaky                 sync.Map // host -> attempts so far
)

func init() {
	// t_sleep: sleeps, tracking how many hosts run at once.
	testModules.Register(&modules.Module{Name: "t_sleep", Doc: "test",
		Params: []modules.Param{{Name: "ms", Type: modules.Int, Default: int64(20)}},
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			select {
			case <-time.After(time.Duration(p.Int("ms")) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &modules.Result{}, nil
		}})
	// t_set: changed unless the host is listed in `same`; fails on hosts in
	// `fail`; outputs a token unless in check mode with a change.
	testModules.Register(&modules.Module{Name: "t_set", Doc: "test",
		Params: []modules.Param{
			{Name: "same", Type: modules.List},
			{Name: "fail", Type: modules.List},
			{Name: "secret", Type: modules.String, Sensitive: true},
			{Name: "value", Type: modules.Any},
			{Name: "mode", Type: modules.String, Choices: []string{"a", "b"}},
		},
		SensitiveOutputs: []string{"token"},
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			for _, f := range p.Strings("fail") {
				if f == t.Name {
					return nil, fmt.Errorf("boom on %s with %s", t.Name, p.String("secret"))
				}
			}
			changed := true
			for _, s := range p.Strings("same") {
				if s == t.Name {
					changed = false
				}
			}
			out := map[string]any{"value": p["value"], "host": t.Name}
			if !(t.Check && changed) {
				out["token"] = "tok-" + t.Name + "-SECRETTOKEN"
			}
			return &modules.Result{Changed: changed, Msg: "secret is " + p.String("secret"), Outputs: out}, nil
		}})
	// t_flaky fails its first two attempts per host.
	testModules.Register(&modules.Module{Name: "t_flaky", Doc: "test",
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			v, _ := flaky.LoadOrStore(t.Name, new(atomic.Int64))
			if v.(*atomic.Int64).Add(1) <= 2 {
				return nil, errors.New("not yet")
			}
			return &modules.Result{Changed: true}, nil
		}})
}

type run struct {
	raw    string // the JSON output as printed
	events []map[string]any
	err    error
	recap  map[string]Counts
}

func (r *run) results(status string) []string {
	var out []string
	for _, e := range r.events {
		if e["event"] == "result" && (status == "" || e["status"] == status) {
			out = append(out, fmt.Sprintf("%s/%s", e["task"], e["host"]))
		}
	}
	return out
}

func play(t *testing.T, ctx context.Context, src string, o Options, files map[string]string) *run {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	path := filepath.Join(dir, "play.star")
	os.WriteFile(path, []byte(src), 0o644)
	names := []string{"h1", "h2", "h3", "h4"}
	if o.Match == nil {
		o.Match = func(pattern string) ([]HostSpec, error) {
			var out []HostSpec
			for _, n := range names {
				if pattern == "all" || pattern == n || (pattern == "odd" && (n == "h1" || n == "h3")) {
					out = append(out, HostSpec{Name: n, Vars: map[string]any{"ansible_host": "10.0.0." + n[1:], "role": "r" + n[1:]}})
				}
			}
			return out, nil
		}
	}
	if o.Dial == nil {
		o.Dial = func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error) {
			return &fakeConn{name: name}, nil
		}
	}
	if o.Modules == nil {
		o.Modules = testModules
	}
	var buf bytes.Buffer
	o.Reporter = NewJSONReporter(&buf)
	if o.MaxFailPercent == 0 {
		o.MaxFailPercent = -1
	}
	e := New(ctx, o)
	err := e.Play(path)
	r := &run{err: err, recap: e.Recap()}
	e.opts.Reporter.Recap(r.recap, 0)
	r.raw = buf.String()
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if line != "" {
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("bad JSON line %q: %v", line, err)
			}
			r.events = append(r.events, ev)
		}
	}
	if strings.Contains(buf.String(), "SECRETTOKEN") || strings.Contains(buf.String(), "hunter22") {
		t.Errorf("a secret reached the output:\n%s", buf.String())
	}
	return r
}

func TestForksBoundParallelism(t *testing.T) {
	maxInFlight.Store(0)
	r := play(t, context.Background(), `t_sleep(hosts("all"), ms = 300)`, Options{Forks: 2}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := maxInFlight.Load(); got != 2 {
		t.Errorf("max hosts at once = %d, want 2 (forks)", got)
	}
	maxInFlight.Store(0)
	play(t, context.Background(), `t_sleep(hosts("all"), ms = 400)`, Options{}, nil)
	if got := maxInFlight.Load(); got != 4 {
		t.Errorf("max hosts at once = %d, want 4 (all in parallel)", got)
	}
}

func TestFailureDropsHostAndExitCode(t *testing.T) {
	r := play(t, context.Background(), `
a = t_set(hosts("all"), name = "one", fail = ["h2"], secret = "hunter22")
b = t_set(hosts("all"), name = "two")
if len(a.failed) != 1 or a.failed[0].name != "h2":
    fail("want h2 failed, got", a.failed)
if len(b.hosts) != 3:
    fail("h2 should have dropped out, got", b.hosts)
`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.results("failed"); len(got) != 1 || got[0] != "one/h2" {
		t.Errorf("failed = %v", got)
	}
	if strings.Contains(fmt.Sprint(r.events), "hunter22") {
		t.Error("sensitive argument leaked")
	}
	if c := r.recap["h2"]; c.Failed != 1 || c.OK != 0 {
		t.Errorf("recap h2 = %+v", c)
	}
	if c := r.recap["h1"]; c.OK != 2 || c.Changed != 2 {
		t.Errorf("recap h1 = %+v", c)
	}
	if ExitCode(r.recap) != ExitFailed {
		t.Errorf("exit code = %d", ExitCode(r.recap))
	}
}

func TestMaxFailPercentage(t *testing.T) {
	src := `
t_set(hosts("all"), name = "one", fail = ["h2"])
t_set(hosts("all"), name = "two")
`
	r := play(t, context.Background(), src, Options{MaxFailPercent: 20}, nil)
	if !errors.Is(r.err, ErrMaxFail) || len(r.results("")) != 4 {
		t.Errorf("25%% failed with max 20%%: err %v, results %v", r.err, r.results(""))
	}
	r = play(t, context.Background(), src, Options{MaxFailPercent: 25}, nil)
	if r.err != nil || len(r.results("")) != 7 {
		t.Errorf("25%% failed with max 25%%: err %v, results %v", r.err, r.results(""))
	}
}

func TestIgnoreErrorsKeepsHost(t *testing.T) {
	r := play(t, context.Background(), `
t_set(hosts("all"), fail = ["h2"], ignore_errors = True)
b = t_set(hosts("all"))
if len(b.hosts) != 4:
    fail("h2 should stay")
`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if c := r.recap["h2"]; c.Ignored != 1 || c.Failed != 0 {
		t.Errorf("recap h2 = %+v", c)
	}
	if ExitCode(r.recap) != 0 {
		t.Error("ignored failure must not fail the run")
	}
}

func TestRetries(t *testing.T) {
	flaky = sync.Map{}
	r := play(t, context.Background(), `t_flaky(hosts("h1"), retries = 2, delay = 0)`, Options{}, nil)
	if got := r.results("changed"); len(got) != 1 {
		t.Errorf("want success on the third attempt, got %v", r.events)
	}
	flaky = sync.Map{}
	r = play(t, context.Background(), `t_flaky(hosts("h1"), retries = 1, delay = 0)`, Options{}, nil)
	if got := r.results("failed"); len(got) != 1 {
		t.Errorf("two attempts should fail, got %v", r.events)
	}
}

func TestTimeout(t *testing.T) {
	start := time.Now()
	r := play(t, context.Background(), `t_sleep(hosts("h1"), ms = 5000, timeout = 0.1)`, Options{}, nil)
	if time.Since(start) > 2*time.Second {
		t.Fatal("timeout not applied")
	}
	ev := r.events[1]
	if ev["status"] != "failed" || !strings.Contains(ev["msg"].(string), "timed out") {
		t.Errorf("got %v", ev)
	}
}

func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	r := play(t, ctx, `
t_sleep(hosts("all"), ms = 5000)
t_set(hosts("all"), name = "never")
`, Options{}, nil)
	if !errors.Is(r.err, ErrInterrupted) {
		t.Fatalf("err = %v, want interrupted", r.err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("cancel did not stop the running step")
	}
	for _, ev := range r.events {
		if ev["task"] == "never" {
			t.Error("a step after the interrupt ran")
		}
	}
}

func TestUnreachable(t *testing.T) {
	r := play(t, context.Background(), `
a = t_set(hosts("all"))
b = t_set(hosts("all"))
`, Options{Dial: func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error) {
		if name == "h3" {
			return nil, errors.New("dial tcp 10.0.0.3:22: connection refused")
		}
		return &fakeConn{name: name}, nil
	}}, nil)
	if c := r.recap["h3"]; c.Unreachable != 1 {
		t.Errorf("recap h3 = %+v (should be unreachable once, then dropped)", c)
	}
	if ExitCode(r.recap) != ExitUnreachable {
		t.Errorf("exit = %d", ExitCode(r.recap))
	}
}

func TestCheckModeUnknownsFlow(t *testing.T) {
	r := play(t, context.Background(), `
init = t_set(hosts("h1"), name = "init")
t_set(hosts("all"), name = "join", value = init.token)
t_set(hosts("all"), name = "join2", value = "x" + init.token)
`, Options{Check: true}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.results("changed"); len(got) != 9 {
		t.Errorf("changed = %v, want every host of every step", got)
	}
	// Known outputs pass through in check mode.
	r = play(t, context.Background(), `
init = t_set(hosts("h1"), name = "init", same = ["h1"])
j = t_set(hosts("h2"), name = "join", value = init.token, same = ["h2"])
if j.value != init.token:
    fail("value not passed")
`, Options{Check: true}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.results("changed"); len(got) != 0 {
		t.Errorf("changed = %v, want none", got)
	}
}

func TestArgumentErrors(t *testing.T) {
	r := play(t, context.Background(), "\n\nt_set(hosts(\"all\"), colour = 1)\n", Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), `unknown argument "colour"`) || !strings.Contains(r.err.Error(), "valid arguments: fail, mode, same, secret, value") {
		t.Fatalf("err = %v", r.err)
	}
	var ee *starlark.EvalError
	if !errors.As(r.err, &ee) || !strings.Contains(ee.Backtrace(), "play.star:3") {
		t.Errorf("no file:line in %v", r.err)
	}
	r = play(t, context.Background(), `t_set(hosts("all"), mode = "c")`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), `"c" is not one of a, b`) {
		t.Errorf("err = %v", r.err)
	}
	r = play(t, context.Background(), `t_set(hosts("all"), same = 3)`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "want list, got int") {
		t.Errorf("err = %v", r.err)
	}
	r = play(t, context.Background(), "x = = 1", Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "play.star:1") {
		t.Errorf("syntax error = %v", r.err)
	}
}

func TestBuiltinsAndLoad(t *testing.T) {
	t.Setenv("SWARMRUN_TEST_PW", "pa55word!")
	r := play(t, context.Background(), `
load("lib/util.star", "prep")
all = hosts("all")
if len(all) != 4 or all[0].name != "h1" or all[-1].address != "10.0.0.4":
    fail("hosts() wrong")
if [h.name for h in all[1:3]] != ["h2", "h3"]:
    fail("slice wrong")
if len(all - hosts("odd")) != 2 or len(hosts("odd") + hosts("h2")) != 3:
    fail("group arithmetic wrong")
if all[1].vars["role"] != "r2":
    fail("vars wrong")
if var("stack") != "web" or var("missing", 7) != 7:
    fail("var wrong")
if file("data/x.txt") != "hello\n":
    fail("file wrong")
print("pw", env("SWARMRUN_TEST_PW"))
res = prep(all)
t_set(res.changed, name = "only-changed")
per = t_set(hosts("odd"), name = "per-host", value = lambda h: h.name + "!")
if per["h3"].value != "h3!":
    fail("per-host argument wrong")
`, Options{ExtraVars: map[string]any{"stack": "web"}}, map[string]string{
		"lib/util.star": "def prep(g):\n    return t_set(g, name = \"prep\", same = [\"h1\", \"h2\"])\n",
		"data/x.txt":    "hello\n",
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := fmt.Sprint(r.results("")); !strings.Contains(got, "only-changed/h3") || strings.Contains(got, "only-changed/h1") {
		t.Errorf("results = %v", got)
	}
	for _, ev := range r.events {
		if ev["event"] == "print" && ev["msg"] != "pw "+Mask {
			t.Errorf("env value not redacted: %v", ev)
		}
	}
}

func TestFailBuiltin(t *testing.T) {
	r := play(t, context.Background(), "def f():\n    fail(\"no managers in the inventory\")\nf()\n", Options{}, nil)
	var ee *starlark.EvalError
	if !errors.As(r.err, &ee) || !strings.Contains(ee.Backtrace(), "play.star:2") || !strings.Contains(ee.Backtrace(), "no managers") {
		t.Fatalf("err = %v", r.err)
	}
}

func TestTags(t *testing.T) {
	r := play(t, context.Background(), `
t_set(hosts("h1"), name = "fw", tags = ["firewall"])
t_set(hosts("h1"), name = "k", tags = ["kernel"])
t_set(hosts("h1"), name = "a", tags = ["always"])
`, Options{Tags: []string{"kernel"}}, nil)
	if got := fmt.Sprint(r.results("")); got != "[k/h1 a/h1]" {
		t.Errorf("ran %v", got)
	}
	r = play(t, context.Background(), `
t_set(hosts("h1"), name = "fw", tags = ["firewall"])
t_set(hosts("h1"), name = "k", tags = ["kernel"])
`, Options{SkipTags: []string{"kernel"}}, nil)
	if got := fmt.Sprint(r.results("")); got != "[fw/h1]" {
		t.Errorf("ran %v", got)
	}
}

func TestLimit(t *testing.T) {
	r := play(t, context.Background(), `t_set(hosts("all"))`, Options{Limit: map[string]bool{"h2": true}}, nil)
	if got := r.results(""); len(got) != 1 || !strings.HasSuffix(got[0], "/h2") {
		t.Errorf("ran %v", got)
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor()
	r.Add("abc")
	r.Add("s3cr3t")
	r.Add("s3cr3t-longer")
	if got := r.Redact("abc s3cr3t s3cr3t-longer"); got != "abc "+Mask+" "+Mask {
		t.Errorf("got %q", got)
	}
}

func TestNameGoesToModuleThatHasOne(t *testing.T) {
	var got atomic.Value
	o := Options{Modules: testModules.With(&modules.Module{Name: "t_named", Doc: "test",
		Params: []modules.Param{{Name: "name", Type: modules.String, Required: true}},
		Run: func(ctx context.Context, tg *modules.Target, p modules.Params) (*modules.Result, error) {
			got.Store(p.String("name"))
			return &modules.Result{}, nil
		}})}
	r := play(t, context.Background(), `t_named(hosts("h1"), name = "docker")`, o, nil)
	if got.Load() != "docker" || r.events[0]["task"] != "t_named docker" {
		t.Errorf("module got %v, task %v", got.Load(), r.events[0]["task"])
	}
	r = play(t, context.Background(), `t_named(hosts("h1"), name = "docker", task = "restart docker")`, o, nil)
	if r.events[0]["task"] != "restart docker" {
		t.Errorf("task %v", r.events[0]["task"])
	}
}

func TestInventoryPasswordsMasked(t *testing.T) {
	r := play(t, context.Background(), `print(hosts("all")[0].vars)`, Options{
		Match: func(string) ([]HostSpec, error) {
			return []HostSpec{{Name: "h1", Vars: map[string]any{"ansible_become_password": "hunter22"}}}, nil
		}}, nil)
	if r.err != nil || len(r.events) == 0 || !strings.Contains(fmt.Sprint(r.events[0]["msg"]), Mask) {
		t.Errorf("err %v, events %v", r.err, r.events)
	}
}

func TestFileOpensVault(t *testing.T) {
	secret := vault.Secret{ID: "default", Password: []byte("pw")}
	env, err := vault.Encrypt([]byte("vaulted-value-123\nsecond-line-456\n"), secret)
	if err != nil {
		t.Fatal(err)
	}
	src := `
v = file("data/v.txt")
if not v.startswith("vaulted-value-123"):
    fail("not decrypted")
print("got", v)
`
	files := map[string]string{"data/v.txt": string(env)}
	r := play(t, context.Background(), src, Options{Vault: []vault.Secret{secret}}, files)
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, ev := range r.events {
		if ev["event"] == "print" && (strings.Contains(fmt.Sprint(ev["msg"]), "vaulted-value") || strings.Contains(fmt.Sprint(ev["msg"]), "second-line")) {
			t.Errorf("vault content printed: %v", ev)
		}
	}
	if r := play(t, context.Background(), src, Options{}, files); r.err == nil || !strings.Contains(r.err.Error(), "no vault password") {
		t.Errorf("without a password: %v", r.err)
	}
}
