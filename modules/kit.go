package modules

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

// The module kit. A module observes the host (batched probes: hpSection,
// hpReadFiles), computes a pure Plan (the list of changes with their diff
// text) and hands it to one gate, Plan.Apply: check mode, --diff, the
// wording of messages and the prefix of errors are decided there, once
// (conformance_test.go holds every module to it). ufw.go's
// observe/plan/apply split is the model; go.starlark.net's small, plain
// types are the style.
//
// Wording: a change's What is an imperative phrase ("update /etc/x",
// "load overlay", "restart docker"). A real run reports the changes joined by
// ", "; check mode reports the same list after "would ". Nothing to do
// reports Plan.Unchanged. Errors read "<module>: <what>: <cause>".

// Change is one change a module makes on a host.
type Change struct {
	What string                          // imperative phrase, e.g. "update /etc/x"
	Diff string                          // unified diff or "old -> new" lines, "" if none
	Do   func(ctx context.Context) error // applies it; nil when another change does (a write sets the mode too) or for a check-mode guess
}

// Plan is what a module would change on one host, in order.
type Plan struct {
	Module    string // error prefix
	Unchanged string // the message when there is nothing to change
	Changes   []Change
	Notes     []string // facts worth reporting that are not changes ("assuming ...")
}

// NewPlan starts a plan for module; unchanged is the no-change message.
func NewPlan(module, unchanged string) *Plan {
	return &Plan{Module: module, Unchanged: unchanged}
}

// Add appends a change.
func (p *Plan) Add(what, diff string, do func(ctx context.Context) error) {
	p.Changes = append(p.Changes, Change{What: what, Diff: diff, Do: do})
}

// UpdateFile adds the change "update PATH": write data (was old) with
// hpWriteFile, showing a unified diff.
func (p *Plan) UpdateFile(t *Target, path, old, data string, mode fs.FileMode) {
	p.Add("update "+path, FileDiff(path, old, data), func(ctx context.Context) error {
		return hpWriteFile(ctx, t, path, []byte(data), mode)
	})
}

// writeWithAttrs writes a file with the wanted attributes: WriteFile sets
// mode and owner on the temporary file before the rename, so the new file
// never shows with the wrong ones (mode 0 and empty owner keep an existing
// file's); setuid/setgid/sticky need a chmod after.
func writeWithAttrs(ctx context.Context, t *Target, p string, data []byte, a fileAttrs) error {
	o := connection.WriteOpts{Owner: a.owner, Group: a.group, Become: t.Become}
	if a.hasMode {
		o.Mode = goMode(a.mode)
	}
	if err := t.Conn.WriteFile(ctx, p, data, o); err != nil {
		return err
	}
	if a.hasMode && a.mode&0o7000 != 0 {
		_, err := Sh(ctx, t, "chmod "+fmtMode(a.mode)+" -- "+Quote(p))
		return err
	}
	return nil
}

// Note adds a fact to the message that is not a change; a change's Do may
// add one about its outcome.
func (p *Plan) Note(s string) { p.Notes = append(p.Notes, s) }

// Empty says whether nothing would change.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Whats is the list of changes, as reported.
func (p *Plan) Whats() []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.What
	}
	return out
}

// Errorf returns an error carrying the module's prefix.
func (p *Plan) Errorf(format string, args ...any) error {
	return fmt.Errorf(p.Module+": "+format, args...)
}

// Apply is the gate. It fills res (created when nil) with Changed, Msg,
// Diff (under --diff) and Changes; unless in check mode it runs each
// change in order and stops at the first error, which it prefixes with
// the module and the change.
func (p *Plan) Apply(ctx context.Context, t *Target, res *Result) (*Result, error) {
	if res == nil {
		res = &Result{}
	}
	res.Changes = p.Whats()
	res.Changed = !p.Empty()
	if t.Diff {
		var d strings.Builder
		for _, c := range p.Changes {
			if c.Diff != "" {
				d.WriteString(c.Diff)
				if !strings.HasSuffix(c.Diff, "\n") {
					d.WriteString("\n")
				}
			}
		}
		res.Diff = d.String()
	}
	if !t.Check {
		for _, c := range p.Changes {
			if c.Do == nil {
				continue
			}
			if err := c.Do(ctx); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p.Module, c.What, err)
			}
		}
	}
	// After the changes: one may have noted its outcome ("back after 3 s").
	res.Msg = p.message(t.Check)
	return res, nil
}

// message is the one wording: "<what>, <what>" or "would <what>, <what>",
// then any notes after "; ".
func (p *Plan) message(check bool) string {
	msg := p.Unchanged
	if !p.Empty() {
		msg = strings.Join(p.Whats(), ", ")
		if check {
			msg = "would " + msg
		}
	}
	for _, n := range p.Notes {
		if msg == "" {
			msg = n
		} else {
			msg += "; " + n
		}
	}
	return msg
}
