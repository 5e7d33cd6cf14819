package main

import (
	"math/rand/v2"
	"time"
)

// syntheticResults makes up plausible numbers to exercise the report writer
// and the chart (`--synthetic`). Its output says so on every page; never
// commit it as a result.
func syntheticResults() *Results {
	r := rand.New(rand.NewPCG(1, 2))
	res := &Results{Hosts: []int{1, 10, 50, 100}, Runs: 3, Synthetic: true, Started: time.Now(),
		Took: 42 * time.Minute, LabUp: 30 * time.Second, LabSize: 100, Command: "swarmrun-bench --synthetic",
		Env: Env{CPUs: 2, MemGB: "23.5", Kernel: "synthetic", Debian: "synthetic", Go: "synthetic"}}
	base := map[string][3]float64{ // per-host-ish cost: first, noop, check
		toolSwarmrun: {0.6, 0.25, 0.3}, toolAnsible: {9, 6, 7}, toolAnsPipe: {5, 3.5, 4}, toolFloor: {0, 0.15, 0}, toolFloor6: {0, 0.2, 0},
	}
	for _, n := range res.Hosts {
		for rep := 1; rep <= res.Runs; rep++ {
			for tool, b := range base {
				for i, kind := range []string{kindFirst, kindNoop, kindCheck} {
					if b[i] == 0 {
						continue
					}
					grow := 1 + float64(n)/20
					if tool == toolAnsible || tool == toolAnsPipe {
						grow = 1 + float64(n)/4
					}
					res.Samples = append(res.Samples, Sample{Tool: tool, Hosts: n, Kind: kind, Rep: rep,
						Seconds: b[i] * grow * (0.9 + 0.2*r.Float64()), PeakMB: 20 + float64(n)*0.5*b[i]})
				}
			}
		}
	}
	res.Samples[3].Problem = "2 hosts changed on the no-op re-run (synthetic)"
	return res
}
