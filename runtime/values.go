package runtime

import (
	"fmt"
	"sort"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Host is a playbook's view of one inventory host.
type Host struct {
	name    string
	address string
	vars    *starlark.Dict
	spec    HostSpec
	cvars   connection.Vars // its connection variables, read once
	eng     *Engine
}

var (
	_ starlark.HasAttrs = (*Host)(nil)
	_ starlark.Value    = (*Host)(nil)
)

func (h *Host) String() string        { return fmt.Sprintf("host(%q)", h.name) }
func (h *Host) Type() string          { return "host" }
func (h *Host) Freeze()               {}
func (h *Host) Truth() starlark.Bool  { return true }
func (h *Host) Hash() (uint32, error) { return starlark.String(h.name).Hash() }
func (h *Host) AttrNames() []string   { return []string{"address", "facts", "name", "vars"} }

func (h *Host) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(h.name), nil
	case "address":
		return starlark.String(h.address), nil
	case "vars":
		return h.vars, nil
	case "facts":
		return h.eng.facts(h)
	}
	return nil, nil
}

// Group is an ordered set of hosts: the value of hosts(), of a result's
// .changed/.ok/.failed, of slicing another group.
type Group struct {
	label string // how it was made, for messages: a pattern or "x.changed"
	hosts []*Host
}

var (
	_ starlark.Indexable = (*Group)(nil)
	_ starlark.Sliceable = (*Group)(nil)
	_ starlark.Iterable  = (*Group)(nil)
	_ starlark.HasBinary = (*Group)(nil)
	_ starlark.HasAttrs  = (*Group)(nil)
)

func (g *Group) String() string {
	names := make([]string, len(g.hosts))
	for i, h := range g.hosts {
		names[i] = h.name
	}
	return fmt.Sprintf("group(%s)", strings.Join(names, ", "))
}
func (g *Group) Type() string          { return "group" }
func (g *Group) Freeze()               {}
func (g *Group) Truth() starlark.Bool  { return len(g.hosts) > 0 }
func (g *Group) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: group") }
func (g *Group) Len() int              { return len(g.hosts) }
func (g *Group) Index(i int) starlark.Value {
	return g.hosts[i]
}
func (g *Group) Slice(start, end, step int) starlark.Value {
	var out []*Host
	if step > 0 {
		for i := start; i < end; i += step {
			out = append(out, g.hosts[i])
		}
	} else {
		for i := start; i > end; i += step {
			out = append(out, g.hosts[i])
		}
	}
	return &Group{label: g.label + "[...]", hosts: out}
}
func (g *Group) Iterate() starlark.Iterator { return &groupIter{g: g} }
func (g *Group) AttrNames() []string        { return []string{"batches", "names"} }
func (g *Group) Attr(name string) (starlark.Value, error) {
	if name == "batches" {
		return starlark.NewBuiltin("batches", g.batches), nil
	}
	if name == "names" {
		l := make([]starlark.Value, len(g.hosts))
		for i, h := range g.hosts {
			l[i] = starlark.String(h.name)
		}
		return starlark.NewList(l), nil
	}
	return nil, nil
}

// Binary implements g + g2 (union, order kept) and g - g2 (difference).
func (g *Group) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	if op == syntax.IN && side == starlark.Right {
		return g.contains(y), nil
	}
	other, ok := asGroup(y)
	if !ok {
		return nil, nil
	}
	a, b := g, other
	if side == starlark.Right {
		a, b = other, g
	}
	switch op {
	case syntax.PLUS:
		return &Group{label: a.label + "+" + b.label, hosts: union(a.hosts, b.hosts)}, nil
	case syntax.MINUS:
		drop := map[*Host]bool{}
		for _, h := range b.hosts {
			drop[h] = true
		}
		var out []*Host
		for _, h := range a.hosts {
			if !drop[h] {
				out = append(out, h)
			}
		}
		return &Group{label: a.label + "-" + b.label, hosts: out}, nil
	}
	return nil, nil
}

// contains implements `host in group` and `"name" in group`.
func (g *Group) contains(v starlark.Value) starlark.Bool {
	name := ""
	switch v := v.(type) {
	case *Host:
		name = v.name
	case starlark.String:
		name = string(v)
	}
	for _, h := range g.hosts {
		if h.name == name {
			return true
		}
	}
	return false
}

// asGroup reads the other operand of g + x / g - x: a group, a host or a
// list of hosts.
func asGroup(v starlark.Value) (*Group, bool) {
	switch v := v.(type) {
	case *Group:
		return v, true
	case *Host:
		return &Group{label: v.name, hosts: []*Host{v}}, true
	case *starlark.List:
		g := &Group{label: "list"}
		for i := 0; i < v.Len(); i++ {
			h, ok := v.Index(i).(*Host)
			if !ok {
				return nil, false
			}
			g.hosts = append(g.hosts, h)
		}
		return g, true
	}
	return nil, false
}

func union(a, b []*Host) []*Host {
	seen := map[*Host]bool{}
	var out []*Host
	for _, l := range [][]*Host{a, b} {
		for _, h := range l {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

type groupIter struct {
	g *Group
	i int
}

func (it *groupIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.g.hosts) {
		return false
	}
	*p = it.g.hosts[it.i]
	it.i++
	return true
}
func (it *groupIter) Done() {}

// Status of one host in one step.
type Status string

const (
	StatusOK          Status = "ok"
	StatusChanged     Status = "changed"
	StatusFailed      Status = "failed"
	StatusSkipped     Status = "skipped"
	StatusUnreachable Status = "unreachable"
)

// HostResult is one host's outcome of one step.
type HostResult struct {
	host    *Host
	Status  Status
	Msg     string
	Diff    string
	Changes []string // the module's change list (modules.Result.Changes)
	Outputs map[string]any
	Ignored bool   // failed, but the step had ignore_errors
	Detail  string // the module's stdout/stderr outputs, masked (shown with -vv)
	unknown string
}

var _ starlark.HasAttrs = (*HostResult)(nil)

func (r *HostResult) String() string {
	return fmt.Sprintf("result(%s: %s)", r.host.name, r.Status)
}
func (r *HostResult) Type() string          { return "host_result" }
func (r *HostResult) Freeze()               {}
func (r *HostResult) Truth() starlark.Bool  { return true }
func (r *HostResult) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: host_result") }
func (r *HostResult) AttrNames() []string {
	names := []string{"changed", "failed", "host", "msg", "ok", "outputs", "status", "diff"}
	for k := range r.Outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (r *HostResult) Attr(name string) (starlark.Value, error) {
	switch name {
	case "host":
		return r.host, nil
	case "status":
		return starlark.String(r.Status), nil
	case "msg":
		return starlark.String(r.Msg), nil
	case "diff":
		return starlark.String(r.Diff), nil
	case "changed":
		return starlark.Bool(r.Status == StatusChanged), nil
	case "failed":
		return starlark.Bool(r.Status == StatusFailed || r.Status == StatusUnreachable), nil
	case "ok":
		return starlark.Bool(r.Status == StatusOK || r.Status == StatusChanged), nil
	case "outputs":
		d := starlark.NewDict(len(r.Outputs))
		for k, v := range r.Outputs {
			d.SetKey(starlark.String(k), toStarlark(v))
		}
		return d, nil
	}
	if v, ok := r.Outputs[name]; ok {
		return toStarlark(v), nil
	}
	if r.unknown != "" {
		return &Unknown{why: r.unknown}, nil
	}
	return nil, nil
}

// Result is what a module step returns to the playbook: per-host results,
// host groups by status, and (on a single host) outputs as attributes.
type Result struct {
	task   string
	module string
	order  []*HostResult
}

var (
	_ starlark.HasAttrs = (*Result)(nil)
	_ starlark.Mapping  = (*Result)(nil)
	_ starlark.Iterable = (*Result)(nil)
	_ starlark.Sequence = (*Result)(nil)
)

func (r *Result) String() string       { return fmt.Sprintf("result(%s, %d hosts)", r.task, len(r.order)) }
func (r *Result) Type() string         { return "result" }
func (r *Result) Freeze()              {}
func (r *Result) Truth() starlark.Bool { return true }
func (r *Result) Hash() (uint32, error) {
	return 0, fmt.Errorf("unhashable: result")
}
func (r *Result) Len() int { return len(r.order) }
func (r *Result) Iterate() starlark.Iterator {
	g := &Group{hosts: r.hostsWhere(func(*HostResult) bool { return true })}
	return g.Iterate()
}

// Get implements r[host] and r["name"].
func (r *Result) Get(k starlark.Value) (starlark.Value, bool, error) {
	var name string
	switch k := k.(type) {
	case *Host:
		name = k.name
	case starlark.String:
		name = string(k)
	default:
		return nil, false, fmt.Errorf("result index must be a host or host name, not %s", k.Type())
	}
	for _, hr := range r.order {
		if hr.host.name == name {
			return hr, true, nil
		}
	}
	return nil, false, fmt.Errorf("host %q was not part of step %q", name, r.task)
}

func (r *Result) hostsWhere(f func(*HostResult) bool) []*Host {
	var out []*Host
	for _, hr := range r.order {
		if f(hr) {
			out = append(out, hr.host)
		}
	}
	return out
}

func (r *Result) AttrNames() []string {
	names := []string{"changed", "failed", "hosts", "ok", "skipped", "results"}
	if len(r.order) == 1 {
		for k := range r.order[0].Outputs {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

func (r *Result) Attr(name string) (starlark.Value, error) {
	group := func(f func(*HostResult) bool) *Group {
		return &Group{label: r.task + "." + name, hosts: r.hostsWhere(f)}
	}
	switch name {
	case "hosts":
		return group(func(*HostResult) bool { return true }), nil
	case "changed":
		return group(func(h *HostResult) bool { return h.Status == StatusChanged }), nil
	case "ok":
		return group(func(h *HostResult) bool { return h.Status == StatusOK || h.Status == StatusChanged }), nil
	case "failed":
		return group(func(h *HostResult) bool { return h.Status == StatusFailed || h.Status == StatusUnreachable }), nil
	case "skipped":
		return group(func(h *HostResult) bool { return h.Status == StatusSkipped }), nil
	case "results":
		l := make([]starlark.Value, len(r.order))
		for i, hr := range r.order {
			l[i] = hr
		}
		return starlark.NewList(l), nil
	}
	switch len(r.order) {
	case 1:
		return r.order[0].Attr(name)
	case 0:
		// Its hosts failed earlier (or the group was empty): later steps
		// that use this output fail on their own hosts, the run goes on.
		return &Unknown{why: fmt.Sprintf("step %q ran on no hosts, so it has no output %q", r.task, name)}, nil
	}
	return nil, fmt.Errorf("step %q ran on %d hosts: read output %q per host, e.g. result[host].%s", r.task, len(r.order), name, name)
}

// Unknown stands for a value that --check cannot know yet (a join token of
// a swarm not created). Operations on it give more unknowns; a module step
// that receives one reports "would change" instead of running.
type Unknown struct{ why string }

var (
	_ starlark.HasAttrs  = (*Unknown)(nil)
	_ starlark.HasBinary = (*Unknown)(nil)
	_ starlark.Mapping   = (*Unknown)(nil)
)

func (u *Unknown) String() string                      { return "(known after apply)" }
func (u *Unknown) Type() string                        { return "unknown" }
func (u *Unknown) Freeze()                             {}
func (u *Unknown) Truth() starlark.Bool                { return true }
func (u *Unknown) Hash() (uint32, error)               { return 0, nil }
func (u *Unknown) AttrNames() []string                 { return nil }
func (u *Unknown) Attr(string) (starlark.Value, error) { return u, nil }
func (u *Unknown) Get(starlark.Value) (starlark.Value, bool, error) {
	return u, true, nil
}
func (u *Unknown) Binary(syntax.Token, starlark.Value, starlark.Side) (starlark.Value, error) {
	return u, nil
}
