package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/swarmrun/swarmrun/inventory"
	"github.com/swarmrun/swarmrun/runtime"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// traceMain is `swarmrun-bench trace [--check] [--cpuprofile F] PLAYBOOK
// INVENTORY`: it plays PLAYBOOK as `swarmrun play` does (same engine, same
// connection code), with every host's connection wrapped to time each
// operation, and prints where the time went: connection set-up, then per
// step the wall time and, per host, the round trips (Run, ReadFile, Stat,
// WriteFile) and their latency. It is the bench's profiler for the no-op
// re-run; it measures, it does not change swarmrun.
func traceMain(args []string) int {
	fs := flag.NewFlagSet("trace", flag.ExitOnError)
	check := fs.Bool("check", false, "check mode")
	cpu := fs.String("cpuprofile", "", "write a CPU profile")
	verbose := fs.Bool("v", false, "list every command run")
	fs.Parse(args)
	if fs.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: swarmrun-bench trace [--check] [--cpuprofile F] PLAYBOOK INVENTORY")
		return 2
	}
	start := time.Now()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			return fail(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	inv, err := inventory.Load(fs.Arg(1))
	if err != nil {
		return fail(err)
	}
	tr := &tracer{start: start, steps: map[string]*stepTrace{}}
	eng := runtime.New(context.Background(), runtime.Options{
		Check:      *check,
		GlobalVars: inv.GroupVars("all"),
		Match:      runtime.MatchInventory(inv),
		Dial: func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error) {
			t := time.Now()
			c, err := connection.Dial(ctx, connection.FromVars(name, vars, connection.Config{HostKeyChecking: "strict"}))
			tr.dialed(name, t, err)
			if err != nil {
				return nil, err
			}
			return &tracedConn{Conn: c, tr: tr, host: name}, nil
		},
		Reporter: tr,
	})
	err = eng.Play(fs.Arg(0))
	eng.Close()
	tr.print(os.Stdout, time.Since(start), *verbose)
	if err != nil {
		return fail(err)
	}
	return 0
}

type opTrace struct {
	op   string
	cmd  string
	took time.Duration
}

type stepTrace struct {
	name       string
	begin, end time.Time
	ops        map[string][]opTrace // host -> ops
}

type tracer struct {
	start   time.Time
	mu      sync.Mutex
	cur     *stepTrace
	order   []*stepTrace
	steps   map[string]*stepTrace
	dials   []time.Duration
	dialEnd time.Time
	changed int
}

func (t *tracer) dialed(host string, began time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dials = append(t.dials, time.Since(began))
	t.dialEnd = time.Now()
}

func (t *tracer) record(host, op, cmd string, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil {
		t.cur.ops[host] = append(t.cur.ops[host], opTrace{op, cmd, took})
	}
}

func (t *tracer) StepStart(s runtime.StepInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &stepTrace{name: s.Task, begin: time.Now(), ops: map[string][]opTrace{}}
	t.cur = st
	t.order = append(t.order, st)
}

func (t *tracer) HostDone(s runtime.StepInfo, r *runtime.HostResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.Status == runtime.StatusChanged {
		t.changed++
	}
}

func (t *tracer) StepEnd(runtime.StepInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil {
		t.cur.end = time.Now()
	}
}

func (t *tracer) Print(string)                                   {}
func (t *tracer) Recap(map[string]runtime.Counts, time.Duration) {}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func (t *tracer) print(w io.Writer, total time.Duration, verbose bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := func(d time.Duration) string { return fmt.Sprintf("%6.1f ms", float64(d)/1e6) }
	fmt.Fprintf(w, "total %s; %d host results changed\n", ms(total), t.changed)
	if len(t.order) > 0 {
		fmt.Fprintf(w, "start-up (process start to first step) %s\n", ms(t.order[0].begin.Sub(t.start)))
	}
	fmt.Fprintf(w, "dial+handshake+auth: %d hosts, median %s, max %s (inside the first step)\n",
		len(t.dials), ms(pct(t.dials, 0.5)), ms(pct(t.dials, 1)))
	fmt.Fprintf(w, "%-28s %10s %6s %12s %12s  %s\n", "step", "wall", "trips", "trip median", "trip max", "ops per host")
	for _, st := range t.order {
		var trips []time.Duration
		perHost := 0
		kinds := map[string]int{}
		for _, ops := range st.ops {
			perHost = max(perHost, len(ops))
			for _, o := range ops {
				trips = append(trips, o.took)
			}
		}
		// The op mix of one host (they are all alike).
		var sample []opTrace
		for _, ops := range st.ops {
			sample = ops
			break
		}
		for _, o := range sample {
			kinds[o.op]++
		}
		var mix []string
		for k, n := range kinds {
			mix = append(mix, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(mix)
		fmt.Fprintf(w, "%-28s %s %6d %s %s  %s\n", st.name, ms(st.end.Sub(st.begin)), perHost,
			ms(pct(trips, 0.5)), ms(pct(trips, 1)), strings.Join(mix, " "))
		if verbose {
			for _, o := range sample {
				fmt.Fprintf(w, "    %-9s %s  %s\n", o.op, ms(o.took), strings.ReplaceAll(o.cmd, "\n", "⏎"))
			}
		}
	}
}

// tracedConn times every operation of a connection.
type tracedConn struct {
	connection.Conn
	tr   *tracer
	host string
}

func (c *tracedConn) Run(ctx context.Context, cmd string, o connection.RunOpts) (*connection.RunResult, error) {
	t := time.Now()
	r, err := c.Conn.Run(ctx, cmd, o)
	c.tr.record(c.host, "Run", cmd, time.Since(t))
	return r, err
}

func (c *tracedConn) ReadFile(ctx context.Context, p string, become bool) ([]byte, error) {
	t := time.Now()
	b, err := c.Conn.ReadFile(ctx, p, become)
	c.tr.record(c.host, "ReadFile", p, time.Since(t))
	return b, err
}

func (c *tracedConn) Stat(ctx context.Context, p string, become bool) (*connection.FileInfo, error) {
	t := time.Now()
	fi, err := c.Conn.Stat(ctx, p, become)
	c.tr.record(c.host, "Stat", p, time.Since(t))
	return fi, err
}

func (c *tracedConn) WriteFile(ctx context.Context, p string, data []byte, o connection.WriteOpts) error {
	t := time.Now()
	err := c.Conn.WriteFile(ctx, p, data, o)
	c.tr.record(c.host, "WriteFile", p, time.Since(t))
	return err
}

func (c *tracedConn) DialUnix(ctx context.Context, p string) (net.Conn, error) {
	t := time.Now()
	nc, err := c.Conn.DialUnix(ctx, p)
	c.tr.record(c.host, "DialUnix", p, time.Since(t))
	return nc, err
}
