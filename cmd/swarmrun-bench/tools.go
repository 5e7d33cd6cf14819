package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The tools compared, and the floor.
const (
	toolSwarmrun = "swarmrun"
	toolAnsible  = "ansible"
	toolAnsPipe  = "ansible+pipelining"
	toolFloor    = "floor"
	toolFloor6   = "floor-6" // connect, then 6 commands one after the other
)

// Run kinds.
const (
	kindFirst = "first run"
	kindNoop  = "no-op re-run"
	kindCheck = "--check"
)

var runKinds = []string{kindFirst, kindNoop, kindCheck}

// Sample is one measured run.
type Sample struct {
	Tool    string  `json:"tool"`
	Hosts   int     `json:"hosts"`
	Kind    string  `json:"kind"`
	Rep     int     `json:"rep"`
	Seconds float64 `json:"seconds"`
	PeakMB  float64 `json:"peak_mb"`
	SumMB   float64 `json:"rss_sum_mb"`
	MaxMB   float64 `json:"max_hwm_mb"`
	Changed int     `json:"changed"` // hosts with at least one change
	Failed  int     `json:"failed"`  // hosts failed or unreachable
	Problem string  `json:"problem,omitempty"`
}

// recap is one host's counts, from either tool.
type recap struct{ OK, Changed, Failed, Unreachable int }

var ansibleRecapRE = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

func parseAnsibleRecap(out []byte) map[string]recap {
	m := map[string]recap{}
	for _, g := range ansibleRecapRE.FindAllSubmatch(out, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(string(g[i])); return v }
		m[string(g[1])] = recap{OK: n(2), Changed: n(3), Unreachable: n(4), Failed: n(5)}
	}
	return m
}

func parseSwarmrunRecap(out []byte) map[string]recap {
	m := map[string]recap{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			Hosts map[string]struct {
				OK          int `json:"ok"`
				Changed     int `json:"changed"`
				Failed      int `json:"failed"`
				Unreachable int `json:"unreachable"`
			} `json:"hosts"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "recap" {
			continue
		}
		for h, c := range ev.Hosts {
			m[h] = recap{OK: c.OK, Changed: c.Changed, Failed: c.Failed, Unreachable: c.Unreachable}
		}
	}
	return m
}

// argv returns the command line and environment of a tool's run.
func (b *bench) argv(tool string, n int, kind string) ([]string, []string) {
	inv := b.subsetInventory(n)
	switch tool {
	case toolSwarmrun:
		a := []string{b.swarmrun, "play", filepath.Join(b.root, "testdata/bench/prep.star"), "-i", inv,
			"--forks", fmt.Sprint(n), "--output", "json"}
		if kind == kindCheck {
			a = append(a, "--check")
		}
		return a, nil
	case toolAnsible, toolAnsPipe:
		cfg := "testdata/bench/ansible.cfg"
		if tool == toolAnsPipe {
			cfg = "testdata/bench/ansible-pipelining.cfg"
		}
		a := []string{"ansible-playbook", "-i", inv, "-f", fmt.Sprint(n), filepath.Join(b.root, "testdata/bench/prep.yml")}
		if kind == kindCheck {
			a = append(a, "--check")
		}
		return a, []string{"ANSIBLE_CONFIG=" + filepath.Join(b.root, cfg),
			"ANSIBLE_SSH_CONTROL_PATH_DIR=" + filepath.Join(b.work, "cp"),
			"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0"}
	case toolFloor:
		return []string{b.self, "floor", inv}, nil
	case toolFloor6:
		return []string{b.self, "floor", "-k", "6", inv}, nil
	}
	panic("unknown tool " + tool)
}

// measureRun runs one tool once on the first n hosts and checks its recap:
// every host reached and none failed; changes on every host for the first
// run and --check (the hosts were just reset), none for the no-op re-run.
func (b *bench) measureRun(ctx context.Context, tool string, n int, kind string, rep int) (*Sample, error) {
	argv, env := b.argv(tool, n, kind)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	m, err := run(ctx, b.root, env, argv...)
	if err != nil {
		return nil, err
	}
	s := &Sample{Tool: tool, Hosts: n, Kind: kind, Rep: rep, Seconds: m.Wall.Seconds(),
		PeakMB: mb(m.PeakBytes()), SumMB: mb(m.PeakSum), MaxMB: mb(m.MaxRSS)}
	var problems []string
	if isFloor(tool) {
		if m.ExitCode != 0 {
			problems = append(problems, fmt.Sprintf("exit %d: %s", m.ExitCode, tail(m.Stderr)))
		}
	} else {
		var rc map[string]recap
		if tool == toolSwarmrun {
			rc = parseSwarmrunRecap(m.Stdout)
		} else {
			rc = parseAnsibleRecap(m.Stdout)
		}
		if len(rc) != n {
			problems = append(problems, fmt.Sprintf("recap lists %d hosts, want %d", len(rc), n))
		}
		for _, c := range rc {
			if c.Changed > 0 {
				s.Changed++
			}
			if c.Failed > 0 || c.Unreachable > 0 {
				s.Failed++
			}
		}
		if s.Failed > 0 {
			problems = append(problems, fmt.Sprintf("%d hosts failed", s.Failed))
		}
		if kind == kindNoop && s.Changed > 0 {
			problems = append(problems, fmt.Sprintf("%d hosts changed on the no-op re-run", s.Changed))
		}
		if kind != kindNoop && s.Changed != n {
			problems = append(problems, fmt.Sprintf("%d of %d hosts changed from scratch", s.Changed, n))
		}
		if m.ExitCode != 0 && len(problems) == 0 {
			problems = append(problems, fmt.Sprintf("exit %d", m.ExitCode))
		}
		if len(problems) > 0 {
			problems = append(problems, "output: "+tail(append(m.Stdout, m.Stderr...)))
		}
	}
	s.Problem = strings.Join(problems, "; ")
	return s, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// tail returns the last lines of out, on one line.
func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	s := strings.Join(lines, " | ")
	if len(s) > 1200 {
		s = s[len(s)-1200:]
	}
	return s
}

func isFloor(tool string) bool { return tool == toolFloor || tool == toolFloor6 }

func isAnsible(tool string) bool { return tool == toolAnsible || tool == toolAnsPipe }
