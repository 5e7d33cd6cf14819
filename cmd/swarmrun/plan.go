package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/swarmrun/swarmrun/runtime"
	"github.com/urfave/cli/v2"
)

// planner collects the steps of a --list-hosts/--syntax-check evaluation.
type planner struct {
	steps []plannedStep
}

type plannedStep struct {
	task, module string
	hosts        []string
}

// record returns the engine's Plan callback (nil for a real run).
func (p *planner) record() func(task, module string, hosts []string) {
	if p == nil {
		return nil
	}
	return func(task, module string, hosts []string) {
		p.steps = append(p.steps, plannedStep{task, module, hosts})
	}
}

// finish prints the plan (--list-hosts) or the verdict (--syntax-check).
func (p *planner) finish(c *cli.Context, filename string, err error, r *runtime.Redactor) error {
	if err != nil {
		return playError(err, r)
	}
	rel := filename
	if wd, e := os.Getwd(); e == nil {
		if x, e := filepath.Rel(wd, filename); e == nil && !strings.HasPrefix(x, "..") {
			rel = x
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nplaybook: %s\n", rel)
	if !c.Bool("list-hosts") {
		fmt.Fprintf(&b, "syntax ok: %d steps, module arguments valid\n", len(p.steps))
	}
	for _, s := range p.steps {
		if !c.Bool("list-hosts") {
			break
		}
		fmt.Fprintf(&b, "\n  %s [%s]\n    hosts (%d):\n", s.task, s.module, len(s.hosts))
		for _, h := range s.hosts {
			fmt.Fprintf(&b, "      %s\n", h)
		}
	}
	fmt.Print(r.Redact(b.String()))
	return nil
}
