package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Benchmarks of the executor's hot paths, with the fake connection of
// engine_test.go: what swarmrun itself costs per step and host, apart from
// the network. cmd/swarmrun-bench measures the whole over real SSH.

func init() {
	// t_bench: one command on the connection, no change; what a module
	// that finds its host already in the desired state does.
	testModules.Register(&modules.Module{Name: "t_bench", Doc: "test",
		Params: []modules.Param{
			{Name: "values", Type: modules.Dict},
			{Name: "rules", Type: modules.List},
			{Name: "file", Type: modules.String, Default: "/etc/x.conf"},
		},
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			if _, err := t.Conn.Run(ctx, "cat "+p.String("file"), connection.RunOpts{}); err != nil {
				return nil, err
			}
			return &modules.Result{Msg: "ok"}, nil
		}})
}

// benchEngine returns an engine over n fake hosts that reports to nowhere.
func benchEngine(n int) *Engine {
	specs := make([]HostSpec, n)
	for i := range specs {
		specs[i] = HostSpec{Name: fmt.Sprintf("h%d", i+1), Vars: map[string]any{
			"ansible_host": fmt.Sprintf("198.18.0.%d", 10+i), "ansible_user": "root"}}
	}
	return New(context.Background(), Options{
		Match: func(string) ([]HostSpec, error) { return specs, nil },
		Dial: func(_ context.Context, name string, _ map[string]any) (connection.Conn, error) {
			return &fakeConn{name: name}, nil
		},
		Reporter: NewJSONReporter(io.Discard),
		Modules:  testModules,
	})
}

// BenchmarkStep runs one module step over 100 hosts: fan-out, per-host
// run, recording and reporting. One op is one step on all hosts.
func BenchmarkStep(b *testing.B) {
	const hosts = 100
	e := benchEngine(hosts)
	g, err := e.match("all")
	if err != nil {
		b.Fatal(err)
	}
	m, _ := testModules.Get("t_bench")
	perHost := map[*Host]modules.Params{}
	for _, h := range g.hosts {
		perHost[h] = modules.Params{"file": "/etc/x.conf"}
	}
	com := common{}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := e.runStep("bench", m, com, g.hosts, perHost)
		if len(r.order) != hosts {
			b.Fatalf("%d results", len(r.order))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/hosts, "ns/host")
}

// BenchmarkPlay runs a six-step playbook shaped like testdata/bench/prep.star
// over 100 hosts: Starlark, argument conversion and validation per host,
// the steps, results. One op is one whole run.
func BenchmarkPlay(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "play.star")
	src := `
all = hosts("all")
vals = {"net.ipv4.ip_forward": 1, "net.core.somaxconn": 65535, "net.ipv4.tcp_max_syn_backlog": 8192,
        "net.ipv4.tcp_fin_timeout": 30, "net.ipv4.tcp_keepalive_time": 600}
rules = [{"port": p, "proto": "tcp"} for p in ["22", "2376", "2377", "7946"]] + [{"port": "7946", "proto": "udp"}, {"port": "4789", "proto": "udp"}]
for i in range(6):
    r = t_bench(all, values = vals, rules = rules, file = "/etc/f%d.conf" % i)
    if len(r.failed) or len(r.changed):
        fail("unexpected", r)
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e := benchEngine(100)
		if err := e.Play(path); err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}

// BenchmarkRedact masks secrets in a typical result message, with none,
// a few and many registered secrets.
func BenchmarkRedact(b *testing.B) {
	msg := strings.Repeat("joined swarm as worker with token SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx; ", 3)
	for _, n := range []int{0, 3, 50} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			r := NewRedactor()
			for i := 0; i < n; i++ {
				r.Add(fmt.Sprintf("secret-value-%04d", i))
			}
			if n > 0 {
				r.Add("SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx")
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				out := r.Redact(msg)
				if n > 0 && strings.Contains(out, "SWMTKN") {
					b.Fatal("not redacted")
				}
			}
		})
	}
}

// BenchmarkToGo converts a module argument the size of a daemon.json
// config plus a ufw rule list from Starlark to Go values.
func BenchmarkToGo(b *testing.B) {
	var thread starlark.Thread
	v, err := starlark.EvalOptions(&syntax.FileOptions{}, &thread, "arg.star", `{
    "config": {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
               "storage-driver": "overlay2", "metrics-addr": "127.0.0.1:9323", "experimental": False},
    "rules": [{"port": p, "proto": "tcp", "from": "198.18.0.0/24"} for p in ["22", "2376", "2377", "7946"]] +
             [{"port": "7946", "proto": "udp"}, {"port": "4789", "proto": "udp"}],
    "values": {"net.ipv4.ip_forward": 1, "net.core.somaxconn": 65535, "vm.swappiness": 1},
}`, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := toGo(v); err != nil {
			b.Fatal(err)
		}
	}
}
