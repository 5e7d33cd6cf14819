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

func benchMain() int {
	quick := flag.Bool("quick", false, "hosts 1 and 10, one run each (about a minute)")
	hostsFlag := flag.String("hosts", "1,10,50,100", "host counts to measure")
	runs := flag.Int("runs", 3, "runs per tool, host count and run kind")
	ansRuns := flag.Int("ansible-runs", 0, "runs of the Ansible variants (0: as swarmrun)")
	ansMax := flag.Int("ansible-max-hosts", 0, "run the Ansible variants only up to this host count (0: all)")
	largeRuns := flag.Int("large-runs", 0, "runs for host counts of 50 and more (0: --runs)")
	noopRuns := flag.Int("noop-runs", 3, "swarmrun no-op re-runs per repetition, each followed by the floors")
	labDir := flag.String("lab-dir", "/tmp/swarmrun-bench-lab", "lab directory")
	net := flag.Int("net", 7, "lab network number (hosts at 198.18.NET.x)")
	keepLab := flag.Bool("keep-lab", false, "leave the lab up afterwards")
	reuseLab := flag.Bool("reuse-lab", false, "use the lab already up in --lab-dir")
	toolsFlag := flag.String("tools", strings.Join([]string{toolSwarmrun, toolAnsible, toolAnsPipe, toolFloor, toolFloor6}, ","), "tools to run")
	out := flag.String("out", "docs/BENCHMARKS.md", "report to write")
	chart := flag.String("chart", "docs/bench.png", "chart to write")
	from := flag.String("report-from", "", "only write the report from a results.json of an earlier run")
	synthetic := flag.Bool("synthetic", false, "write a report of made-up numbers (to test the report writer)")
	flag.Parse()
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	if *from != "" || *synthetic {
		var res *Results
		if *synthetic {
			res = syntheticResults()
		} else {
			b, err := os.ReadFile(*from)
			if err != nil {
				return fail(err)
			}
			res = &Results{}
			if err := json.Unmarshal(b, res); err != nil {
				return fail(err)
			}
		}
		return writeOutputs(res, *out, *chart)
	}

	hostCounts, err := parseInts(*hostsFlag)
	if err != nil {
		return fail(err)
	}
	if *quick {
		hostCounts, *runs = []int{1, 10}, 1
	}
	tools := strings.Split(*toolsFlag, ",")
	if os.Geteuid() != 0 {
		return fail(errors.New("the lab needs root"))
	}
	root, err := repoRoot()
	if err != nil {
		return fail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	b := &bench{root: root, swarmrun: filepath.Join(root, "bin/swarmrun"), self: self,
		lab: *labDir, work: filepath.Join(*labDir, "bench")}
	if _, err := os.Stat(b.swarmrun); err != nil {
		return fail(fmt.Errorf("%v (run `make build` first)", err))
	}
	// Measure a copy: bin/swarmrun may be rebuilt while the bench runs.
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return fail(err)
	}
	pinned := filepath.Join(b.work, "swarmrun")
	if err := copyFile(b.swarmrun, pinned); err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *largeRuns <= 0 {
		*largeRuns = *runs
	}
	if *quick && !explicit["noop-runs"] {
		*noopRuns = 1
	}
	if *noopRuns < 1 {
		*noopRuns = 1
	}
	res := &Results{Hosts: hostCounts, Runs: *runs, LargeRuns: *largeRuns, NoopRuns: *noopRuns, AnsibleRuns: *ansRuns, AnsibleMaxHosts: *ansMax, Quick: *quick, Started: time.Now(),
		LabSize: slicesMax(hostCounts), Command: strings.Join(os.Args, " ")}
	res.Env = collectEnv(root, b.swarmrun, *net)
	b.swarmrun = pinned
	if !*reuseLab {
		logf("lab up: %d hosts in %s (net %d)", res.LabSize, b.lab, *net)
		t := time.Now()
		if err := labUp(ctx, b.swarmrun, b.lab, res.LabSize, *net); err != nil {
			labDown(b.swarmrun, b.lab)
			return fail(fmt.Errorf("lab up: %w", err))
		}
		res.LabUp = time.Since(t)
		logf("lab up took %s", res.LabUp.Round(time.Millisecond))
	}
	if !*keepLab {
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
	res.Took = time.Since(res.Started)
	res.Env.LoadAvgEnd = loadAvg()
	if err := os.WriteFile(filepath.Join(b.work, "results.json"), mustJSON(res), 0o644); err != nil {
		logf("%v", err)
	}
	logf("results: %s", filepath.Join(b.work, "results.json"))
	if len(res.Samples) > 0 {
		// A quick run does not replace the published report unless asked to.
		o, c := inRoot(root, *out), inRoot(root, *chart)
		if *quick && !explicit["out"] {
			o = filepath.Join(b.work, "BENCHMARKS.md")
		}
		if *quick && !explicit["chart"] {
			c = filepath.Join(b.work, "bench.png")
		}
		if rc := writeOutputs(res, o, c); rc != 0 {
			code = rc
		}
		fmt.Print(goals(res, summarise(res.Samples)))
	}
	return code
}

func (b *bench) measureAll(ctx context.Context, res *Results, tools []string) int {
	inv, err := loadInventory(labInventoryPath(b.lab))
	if err != nil {
		return fail(err)
	}
	if len(inv.Hosts) < res.LabSize {
		return fail(fmt.Errorf("the lab has %d hosts, need %d", len(inv.Hosts), res.LabSize))
	}
	b.inv = inv
	sort.Slice(inv.Hosts, func(i, j int) bool { return hostIndex(inv.Hosts[i].Name) < hostIndex(inv.Hosts[j].Name) })
	if err := os.MkdirAll(filepath.Join(b.work, "cp"), 0o700); err != nil {
		return fail(err)
	}
	for _, n := range res.Hosts {
		if err := inv.writeSubset(b.subsetInventory(n), n); err != nil {
			return fail(err)
		}
	}
	pool, err := newSSHPool(inv)
	if err != nil {
		return fail(err)
	}
	b.reset = &resetter{pool: pool, baseline: map[string][]string{}}
	if err := b.reset.recordBaseline(ctx, inv.Hosts[:res.LabSize]); err != nil {
		return fail(fmt.Errorf("reading the hosts' sysctls: %w", err))
	}

	// Warm-up, not measured: the first run of each tool on this machine
	// pays one-off costs (Python byte-code caches, page cache).
	logf("warm-up (not measured)")
	for _, tool := range tools {
		if isFloor(tool) {
			continue
		}
		if err := b.reset.reset(ctx, inv.Hosts[:1]); err != nil {
			return fail(err)
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

	// The machine's speed drifts with its other tenants' load: with swarmrun
	// measured, the floors are timed right after each of its no-op re-runs
	// (the run they are compared with), not somewhere in the rotation.
	var floors []string
	if slices.Contains(tools, toolSwarmrun) {
		for _, t := range tools {
			if isFloor(t) {
				floors = append(floors, t)
			}
		}
	}
	total := 0
	record := func(s *Sample, n, rep int, tool, kind string) {
		res.Samples = append(res.Samples, *s)
		total++
		status := "ok"
		if s.Problem != "" {
			status = "PROBLEM: " + s.Problem
		}
		logf("N=%-3d run %d %-18s %-13s %7.2fs %6.1f MB  %s", n, rep, tool, kind, s.Seconds, s.PeakMB, status)
	}
	for _, n := range res.Hosts {
		for rep := 1; rep <= res.runsFor(n); rep++ {
			// Alternate: each repetition starts with the next tool.
			order := append(append([]string{}, tools[(rep-1)%len(tools):]...), tools[:(rep-1)%len(tools)]...)
			for _, tool := range order {
				if ctx.Err() != nil {
					return fail(ctx.Err())
				}
				if isAnsible(tool) && ((res.AnsibleRuns > 0 && rep > res.AnsibleRuns) || (res.AnsibleMaxHosts > 0 && n > res.AnsibleMaxHosts)) {
					continue
				}
				if slices.Contains(floors, tool) {
					continue
				}
				killOrphans()
				kinds := []string{kindCheck, kindFirst, kindNoop}
				if isFloor(tool) {
					kinds = []string{kindNoop}
				} else if err := b.reset.reset(ctx, inv.Hosts[:n]); err != nil {
					return fail(fmt.Errorf("reset: %w", err))
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
						s, err := b.measureRun(ctx, tool, n, kind, rep)
						if err != nil {
							return fail(err)
						}
						record(s, n, rep, tool, kind)
						if kind != kindNoop || tool != toolSwarmrun {
							continue
						}
						for _, f := range floors {
							s, err := b.measureRun(ctx, f, n, kindNoop, rep)
							if err != nil {
								return fail(err)
							}
							record(s, n, rep, f, kindNoop)
						}
					}
				}
			}
		}
	}
	killOrphans()
	logf("%d measured runs", total)
	b.traces(ctx, res, tools)
	return 0
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
