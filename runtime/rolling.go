package runtime

// Batches in the language: group.batches(...) splits a group the way
// Ansible's `serial:` does, and rolling(group, fn, batch = ...) calls fn with
// one batch after the other, going on only while each batch succeeded.

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// batchSizes turns Ansible serial values (an int, "N" or "N%", or a list of
// them; the last one repeats) into concrete sizes for total hosts.
func batchSizes(spec starlark.Value, total int) ([]int, error) {
	var items []starlark.Value
	switch v := spec.(type) {
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			items = append(items, v.Index(i))
		}
	case starlark.Tuple:
		items = append(items, v...)
	default:
		items = []starlark.Value{v}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("batch sizes: give at least one (an int or a percentage such as \"30%%\")")
	}
	var out []int
	for _, it := range items {
		n, err := batchSize(it, total)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// batchSize is one serial value: an int, or "N%" of total (rounded down,
// at least 1), as Ansible computes it.
func batchSize(v starlark.Value, total int) (int, error) {
	bad := fmt.Errorf("batch size %s: want a positive int or a percentage such as \"30%%\"", v.String())
	switch x := v.(type) {
	case starlark.Int:
		n, ok := x.Int64()
		if !ok || n <= 0 {
			return 0, bad
		}
		return int(n), nil
	case starlark.String:
		s := strings.TrimSpace(string(x))
		if p, ok := strings.CutSuffix(s, "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f <= 0 || f > 100 {
				return 0, bad
			}
			return max(1, int(float64(total)*f/100)), nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return 0, bad
		}
		return n, nil
	}
	return 0, bad
}

// splitBatches cuts hosts into consecutive batches of the given sizes.
func splitBatches(hosts []*Host, sizes []int, label string) []*Group {
	var out []*Group
	for i := 0; len(hosts) > 0; i++ {
		n := sizes[min(i, len(sizes)-1)]
		n = min(n, len(hosts))
		out = append(out, &Group{label: fmt.Sprintf("%s batch %d", label, len(out)+1), hosts: hosts[:n:n]})
		hosts = hosts[n:]
	}
	return out
}

// groupBatches implements group.batches(size, ...): a list of groups.
func (g *Group) batches(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: takes batch sizes as positional arguments, e.g. batches(1, \"30%%\")", b.Name())
	}
	spec := starlark.Value(starlark.MakeInt(1))
	if len(args) > 0 {
		spec = args
	}
	sizes, err := batchSizes(spec, len(g.hosts))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	var l []starlark.Value
	for _, bg := range splitBatches(g.hosts, sizes, g.label) {
		l = append(l, bg)
	}
	return starlark.NewList(l), nil
}

// builtinRolling implements rolling(targets, fn, batch = 1,
// max_fail_percentage = 0, name = ""): fn(batch_group) for each batch in
// turn; when hosts that failed during a batch (of the batch, or others its
// steps ran on) are more than max_fail_percentage of the batch's hosts,
// the run stops before the next batch.
func (e *Engine) builtinRolling(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var targets starlark.Value
	var fn starlark.Callable
	var batch starlark.Value = starlark.MakeInt(1)
	maxFail := 0
	name := ""
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets", &targets, "fn", &fn,
		"batch?", &batch, "max_fail_percentage?", &maxFail, "name?", &name); err != nil {
		return nil, err
	}
	hosts, err := e.targets(targets)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	sizes, err := batchSizes(batch, len(hosts))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if name == "" {
		pos := thread.CallFrame(1).Pos
		name = fmt.Sprintf("rolling (%s:%d)", pos.Filename(), pos.Line)
	}
	batches := splitBatches(hosts, sizes, name)
	for i, bg := range batches {
		before := e.droppedCount()
		e.opts.Reporter.Print(fmt.Sprintf("%s: batch %d/%d: %s", name, i+1, len(batches), strings.Join(hostNames(bg.hosts), ", ")))
		if _, err := starlark.Call(thread, fn, starlark.Tuple{bg}, nil); err != nil {
			return nil, err
		}
		// Any host that failed during the batch counts: one of the batch,
		// or one its steps ran on (the manager a node was drained through).
		failed := e.droppedCount() - before
		if failed*100 > maxFail*len(bg.hosts) {
			return nil, fmt.Errorf("%w: %s: %d of %d hosts of batch %d/%d failed (max_fail_percentage %d); the later batches were not started",
				ErrMaxFail, name, failed, len(bg.hosts), i+1, len(batches), maxFail)
		}
	}
	return starlark.None, nil
}

// droppedCount is how many hosts have dropped out of the run so far.
func (e *Engine) droppedCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.dropped)
}

// droppedOf counts the hosts that have dropped out of the run.
func (e *Engine) droppedOf(hosts []*Host) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, h := range hosts {
		if e.dropped[h.name] {
			n++
		}
	}
	return n
}

func hostNames(hosts []*Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.name
	}
	return out
}
