// Command swarmrun-bench (`make bench`) measures swarmrun against Ansible on
// the same lab hosts and writes docs/BENCHMARKS.md and docs/bench.png.
//
// It starts a lab of --no-docker hosts with the real binary
// (bin/swarmrun lab up), then for each host count N runs the same host
// preparation (testdata/bench/prep.star and prep.yml) with swarmrun, Ansible
// and Ansible with pipelining: a --check run and a first run on freshly
// reset hosts, then a no-op re-run. Tools alternate run by run. It also times
// the floor: a minimal x/crypto/ssh program that opens one connection per
// host and runs `true` (`swarmrun-bench floor INVENTORY`).
//
// Usage (as root, from the repository; `make bench` builds bin/swarmrun-bench
// from this directory's own Go module, which keeps the chart library out of
// swarmrun's go.mod):
//
//	./bin/swarmrun-bench [--quick] [--hosts 1,10,50,100] [--runs 3]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type bench struct {
	root     string // repository root
	swarmrun string // bin/swarmrun
	self     string // this program, for the floor
	lab      string // lab directory
	work     string // lab/bench: inventories, control sockets, results
	inv      *labInventory
	reset    *resetter
}

func (b *bench) subsetInventory(n int) string {
	return filepath.Join(b.work, fmt.Sprintf("inventory-%d", n))
}

// Results is everything a report is written from.
type Results struct {
	Env   Env   `json:"env"`
	Hosts []int `json:"hosts"`
	Runs  int   `json:"runs"`
	// LargeRuns is the number of runs for host counts >= 50.
	LargeRuns int `json:"large_runs"`
	// NoopRuns is how often swarmrun's no-op re-run is repeated per
	// repetition, each time followed by the floors (0 in older results:
	// the floors were tools of the rotation).
	NoopRuns int `json:"noop_runs,omitempty"`
	// AnsibleRuns limits the Ansible variants' runs (0: no limit);
	// AnsibleMaxHosts their host counts (0: no limit).
	AnsibleRuns     int      `json:"ansible_runs,omitempty"`
	AnsibleMaxHosts int      `json:"ansible_max_hosts,omitempty"`
	Quick           bool     `json:"quick"`
	Samples         []Sample `json:"samples"`
	Started         time.Time
	Took            time.Duration
	LabUp           time.Duration `json:"lab_up"`
	LabSize         int           `json:"lab_size"`
	Command         string        `json:"command"`
	// Traces holds `swarmrun-bench trace` of a no-op re-run, by host count.
	Traces map[int]string `json:"traces,omitempty"`
	// Synthetic marks made-up numbers (report writer tests); never publish.
	Synthetic bool `json:"synthetic,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(floorMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "trace" {
		os.Exit(traceMain(os.Args[2:]))
	}
	os.Exit(benchMain())
}

// options are the command line of a measurement.
type options struct {
	quick, keepLab, reuseLab, synthetic             bool
	hosts, tools, labDir, out, chart, from          string
	runs, ansRuns, ansMax, largeRuns, noopRuns, net int
	explicit                                        map[string]bool // flags given on the command line
}

func parseFlags() *options {
	o := &options{explicit: map[string]bool{}}
	flag.BoolVar(&o.quick, "quick", false, "hosts 1 and 10, one run each (about a minute)")
	flag.StringVar(&o.hosts, "hosts", "1,10,50,100", "host counts to measure")
	flag.IntVar(&o.runs, "runs", 3, "runs per tool, host count and run kind")
	flag.IntVar(&o.ansRuns, "ansible-runs", 0, "runs of the Ansible variants (0: as swarmrun)")
	flag.IntVar(&o.ansMax, "ansible-max-hosts", 0, "run the Ansible variants only up to this host count (0: all)")
	flag.IntVar(&o.largeRuns, "large-runs", 0, "runs for host counts of 50 and more (0: --runs)")
	flag.IntVar(&o.noopRuns, "noop-runs", 3, "swarmrun no-op re-runs per repetition, each followed by the floors")
	flag.StringVar(&o.labDir, "lab-dir", "/tmp/swarmrun-bench-lab", "lab directory")
	flag.IntVar(&o.net, "net", 7, "lab network number (hosts at 198.18.NET.x)")
	flag.BoolVar(&o.keepLab, "keep-lab", false, "leave the lab up afterwards")
	flag.BoolVar(&o.reuseLab, "reuse-lab", false, "use the lab already up in --lab-dir")
	flag.StringVar(&o.tools, "tools", strings.Join([]string{toolSwarmrun, toolAnsible, toolAnsPipe, toolFloor, toolFloor6}, ","), "tools to run")
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "report to write")
	flag.StringVar(&o.chart, "chart", "docs/bench.png", "chart to write")
	flag.StringVar(&o.from, "report-from", "", "only write the report from a results.json of an earlier run")
	flag.BoolVar(&o.synthetic, "synthetic", false, "write a report of made-up numbers (to test the report writer)")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
	return o
}

func benchMain() int {
	o := parseFlags()
	if o.from != "" || o.synthetic {
		return reportOnly(o)
	}
	hostCounts, err := parseInts(o.hosts)
	if err != nil {
		return fail(err)
	}
	if o.quick {
		hostCounts, o.runs = []int{1, 10}, 1
	}
	tools := strings.Split(o.tools, ",")
	if os.Geteuid() != 0 {
		return fail(errors.New("the lab needs root"))
	}
	b, pinned, err := newBench(o.labDir)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	o.defaultRuns()
	res := &Results{Hosts: hostCounts, Runs: o.runs, LargeRuns: o.largeRuns, NoopRuns: o.noopRuns, AnsibleRuns: o.ansRuns, AnsibleMaxHosts: o.ansMax, Quick: o.quick, Started: time.Now(),
		LabSize: slicesMax(hostCounts), Command: strings.Join(os.Args, " ")}
	res.Env = collectEnv(b.root, b.swarmrun, o.net)
	b.swarmrun = pinned
	if !o.reuseLab {
		if err := b.labUp(ctx, res, o.net); err != nil {
			return fail(err)
		}
	}
	if !o.keepLab {
		defer func() {
			logf("lab down")
			if err := labDown(b.swarmrun, b.lab); err != nil {
				logf("lab down: %v", err)
			}
		}()
	}
	// Only now, so that the lab's daemonized hosts are not adopted.
	if err := becomeSubreaper(); err != nil {
		return fail(fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err))
	}
	code := b.measureAll(ctx, res, tools)
	if rc := b.finish(res, o); rc != 0 {
		code = rc
	}
	return code
}

// reportOnly writes the report of an earlier run's results.json, or of
// made-up numbers.
func reportOnly(o *options) int {
	var res *Results
	if o.synthetic {
		res = syntheticResults()
	} else {
		b, err := os.ReadFile(o.from)
		if err != nil {
			return fail(err)
		}
		res = &Results{}
		if err := json.Unmarshal(b, res); err != nil {
			return fail(err)
		}
	}
	return writeOutputs(res, o.out, o.chart)
}

// newBench finds the repository and this program, and pins a copy of
// bin/swarmrun to measure (it may be rebuilt while the bench runs).
func newBench(labDir string) (b *bench, pinned string, err error) {
	root, err := repoRoot()
	if err != nil {
		return nil, "", err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	b = &bench{root: root, swarmrun: filepath.Join(root, "bin/swarmrun"), self: self,
		lab: labDir, work: filepath.Join(labDir, "bench")}
	if _, err := os.Stat(b.swarmrun); err != nil {
		return nil, "", fmt.Errorf("%v (run `make build` first)", err)
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return nil, "", err
	}
	pinned = filepath.Join(b.work, "swarmrun")
	if err := copyFile(b.swarmrun, pinned); err != nil {
		return nil, "", err
	}
	return b, pinned, nil
}

// defaultRuns fills in the run counts left to their defaults.
func (o *options) defaultRuns() {
	if o.largeRuns <= 0 {
		o.largeRuns = o.runs
	}
	if o.quick && !o.explicit["noop-runs"] {
		o.noopRuns = 1
	}
	if o.noopRuns < 1 {
		o.noopRuns = 1
	}
}

// labUp starts the lab the largest host count needs.
func (b *bench) labUp(ctx context.Context, res *Results, net int) error {
	logf("lab up: %d hosts in %s (net %d)", res.LabSize, b.lab, net)
	t := time.Now()
	if err := labUp(ctx, b.swarmrun, b.lab, res.LabSize, net); err != nil {
		labDown(b.swarmrun, b.lab)
		return fmt.Errorf("lab up: %w", err)
	}
	res.LabUp = time.Since(t)
	logf("lab up took %s", res.LabUp.Round(time.Millisecond))
	return nil
}

// finish saves results.json and writes the report and the chart.
func (b *bench) finish(res *Results, o *options) int {
	res.Took = time.Since(res.Started)
	res.Env.LoadAvgEnd = loadAvg()
	if err := os.WriteFile(filepath.Join(b.work, "results.json"), mustJSON(res), 0o644); err != nil {
		logf("%v", err)
	}
	logf("results: %s", filepath.Join(b.work, "results.json"))
	if len(res.Samples) == 0 {
		return 0
	}
	// A quick run does not replace the published report unless asked to.
	out, chart := inRoot(b.root, o.out), inRoot(b.root, o.chart)
	if o.quick && !o.explicit["out"] {
		out = filepath.Join(b.work, "BENCHMARKS.md")
	}
	if o.quick && !o.explicit["chart"] {
		chart = filepath.Join(b.work, "bench.png")
	}
	rc := writeOutputs(res, out, chart)
	fmt.Print(goals(res, summarise(res.Samples)))
	return rc
}

func (b *bench) measureAll(ctx context.Context, res *Results, tools []string) int {
	if err := b.prepare(ctx, res); err != nil {
		return fail(err)
	}
	if err := b.warmUp(ctx, tools); err != nil {
		return fail(err)
	}
	m := &measurement{bench: b, res: res, floors: floorsAfterSwarmrun(tools)}
	for _, n := range res.Hosts {
		for rep := 1; rep <= res.runsFor(n); rep++ {
			// Alternate: each repetition starts with the next tool.
			order := append(append([]string{}, tools[(rep-1)%len(tools):]...), tools[:(rep-1)%len(tools)]...)
			for _, tool := range order {
				if ctx.Err() != nil {
					return fail(ctx.Err())
				}
				if err := m.tool(ctx, tool, n, rep); err != nil {
					return fail(err)
				}
			}
		}
	}
	killOrphans()
	logf("%d measured runs", m.total)
	b.traces(ctx, res, tools)
	return 0
}

// prepare reads the lab's inventory, writes one inventory per host count
// and records the hosts' sysctls to reset them to.
func (b *bench) prepare(ctx context.Context, res *Results) error {
	inv, err := loadInventory(labInventoryPath(b.lab))
	if err != nil {
		return err
	}
	if len(inv.Hosts) < res.LabSize {
		return fmt.Errorf("the lab has %d hosts, need %d", len(inv.Hosts), res.LabSize)
	}
	b.inv = inv
	sort.Slice(inv.Hosts, func(i, j int) bool { return hostIndex(inv.Hosts[i].Name) < hostIndex(inv.Hosts[j].Name) })
	if err := os.MkdirAll(filepath.Join(b.work, "cp"), 0o700); err != nil {
		return err
	}
	for _, n := range res.Hosts {
		if err := inv.writeSubset(b.subsetInventory(n), n); err != nil {
			return err
		}
	}
	pool, err := newSSHPool(inv)
	if err != nil {
		return err
	}
	b.reset = &resetter{pool: pool, baseline: map[string][]string{}}
	if err := b.reset.recordBaseline(ctx, inv.Hosts[:res.LabSize]); err != nil {
		return fmt.Errorf("reading the hosts' sysctls: %w", err)
	}
	return nil
}

// warmUp runs each tool once, not measured: the first run of each tool on
// this machine pays one-off costs (Python byte-code caches, page cache).
func (b *bench) warmUp(ctx context.Context, tools []string) error {
	logf("warm-up (not measured)")
	for _, tool := range tools {
		if isFloor(tool) {
			continue
		}
		if err := b.reset.reset(ctx, b.inv.Hosts[:1]); err != nil {
			return err
		}
		killOrphans()
		if s, err := b.measureRun(ctx, tool, 1, kindFirst, 0); err != nil || s.Problem != "" {
			logf("warm-up %s: %v %s", tool, err, func() string {
				if s != nil {
					return s.Problem
				}
				return ""
			}())
		}
	}
	return nil
}

// floorsAfterSwarmrun are the floors of tools when swarmrun is measured too.
// The machine's speed drifts with its other tenants' load: with swarmrun
// measured, the floors are timed right after each of its no-op re-runs
// (the run they are compared with), not somewhere in the rotation.
func floorsAfterSwarmrun(tools []string) []string {
	var floors []string
	if slices.Contains(tools, toolSwarmrun) {
		for _, t := range tools {
			if isFloor(t) {
				floors = append(floors, t)
			}
		}
	}
	return floors
}

// measurement is the measured runs of a bench, in the order they ran.
type measurement struct {
	*bench
	res    *Results
	floors []string // timed after each swarmrun no-op re-run
	total  int
}

// tool measures one tool's runs of one repetition on n hosts.
func (m *measurement) tool(ctx context.Context, tool string, n, rep int) error {
	res := m.res
	if isAnsible(tool) && ((res.AnsibleRuns > 0 && rep > res.AnsibleRuns) || (res.AnsibleMaxHosts > 0 && n > res.AnsibleMaxHosts)) {
		return nil
	}
	if slices.Contains(m.floors, tool) {
		return nil
	}
	killOrphans()
	kinds := []string{kindCheck, kindFirst, kindNoop}
	if isFloor(tool) {
		kinds = []string{kindNoop}
	} else if err := m.reset.reset(ctx, m.inv.Hosts[:n]); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	for _, kind := range kinds {
		if kind == kindFirst {
			killOrphans() // the first run starts cold for Ansible too
		}
		times := 1
		if kind == kindNoop && tool == toolSwarmrun {
			times = res.NoopRuns
		}
		for i := 0; i < times; i++ {
			if err := m.run(ctx, tool, n, kind, rep); err != nil {
				return err
			}
			if kind != kindNoop || tool != toolSwarmrun {
				continue
			}
			for _, f := range m.floors {
				if err := m.run(ctx, f, n, kindNoop, rep); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// run measures one run and records it.
func (m *measurement) run(ctx context.Context, tool string, n int, kind string, rep int) error {
	s, err := m.measureRun(ctx, tool, n, kind, rep)
	if err != nil {
		return err
	}
	m.res.Samples = append(m.res.Samples, *s)
	m.total++
	status := "ok"
	if s.Problem != "" {
		status = "PROBLEM: " + s.Problem
	}
	logf("N=%-3d run %d %-18s %-13s %7.2fs %6.1f MB  %s", n, rep, tool, kind, s.Seconds, s.PeakMB, status)
	return nil
}

// traces records where swarmrun's no-op re-run spends its time, for 10
// hosts and the largest count: converge the hosts with swarmrun, then trace
// a re-run (`swarmrun-bench trace`).
func (b *bench) traces(ctx context.Context, res *Results, tools []string) {
	if !slices.Contains(tools, toolSwarmrun) {
		return
	}
	res.Traces = map[int]string{}
	for _, n := range res.Hosts {
		if n != 10 && n != res.Hosts[len(res.Hosts)-1] {
			continue
		}
		if _, err := b.measureRun(ctx, toolSwarmrun, n, kindFirst, 0); err != nil {
			logf("trace: %v", err)
			continue
		}
		out, err := exec.CommandContext(ctx, b.self, "trace", filepath.Join(b.root, "testdata/bench/prep.star"), b.subsetInventory(n)).CombinedOutput()
		if err != nil {
			logf("trace: %v: %s", err, out)
			continue
		}
		res.Traces[n] = string(out)
		logf("trace of a no-op re-run on %d hosts:\n%s", n, out)
	}
}

func hostIndex(name string) int {
	i, err := strconv.Atoi(strings.TrimLeftFunc(name, func(r rune) bool { return r < '0' || r > '9' }))
	if err != nil {
		return 1 << 30
	}
	return i
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad host count %q", f)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		// testdata/bench: the repository's root, not this module's go.mod.
		if _, err := os.Stat(filepath.Join(d, "testdata/bench/prep.star")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("run from inside the swarmrun repository")
		}
		d = p
	}
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s swarmrun-bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fail(err error) int {
	logf("error: %v", err)
	return 1
}

// cmdOutput returns a command's trimmed output, or "unknown".
func cmdOutput(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// inRoot resolves a relative output path against the repository root.
func inRoot(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func (r *Results) runsFor(n int) int {
	if n >= 50 && r.LargeRuns > 0 {
		return r.LargeRuns
	}
	return r.Runs
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	os.Remove(to)
	return os.WriteFile(to, b, 0o755)
}
