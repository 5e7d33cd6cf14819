package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
	"go.starlark.net/starlark"
)

// common are the keyword arguments every module step accepts.
type common struct {
	name         string
	become       bool
	ignoreErrors bool
	timeout      time.Duration
	retries      int
	delay        time.Duration
	tags         []string
	check        bool // check_mode = True: this step only observes
}

var commonDocs = []modules.Param{
	{Name: "name", Type: modules.String, Doc: "What the step does, shown in output (default: the module name and file:line). Modules with their own `name` parameter (service, network, secret, config, stack...) take it as that parameter; use `task` for the title there."},
	{Name: "task", Type: modules.String, Doc: "The step's title in output; the same as `name` for modules without their own `name` parameter."},
	{Name: "become", Type: modules.Bool, Doc: "Run commands and write files through sudo (default: --become)."},
	{Name: "ignore_errors", Type: modules.Bool, Doc: "A failure on a host is reported but the host stays in the run."},
	{Name: "timeout", Type: modules.Float, Doc: "Seconds one attempt on one host may take before it fails (default: no limit)."},
	{Name: "retries", Type: modules.Int, Doc: "Attempts after a failed one (default 0)."},
	{Name: "delay", Type: modules.Float, Doc: "Seconds between attempts (default 5)."},
	{Name: "tags", Type: modules.List, Doc: "Tags for --tags/--skip-tags; the tag \"always\" runs unless skipped by name."},
	{Name: "check_mode", Type: modules.Bool, Doc: "True: this step runs as under --check (observes and reports what would change, touches nothing), e.g. to plan a rolling change."},
}

// moduleBuiltin returns the Starlark function for a module:
// module(targets, **kwargs) -> result.
func (e *Engine) moduleBuiltin(m *modules.Module) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("%s: takes the target hosts as its one positional argument (a group, a host, a pattern or a list), then keyword arguments; got %d positional", m.Name, len(args))
		}
		targets, err := e.targets(args[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.Name, err)
		}
		com, raw, err := e.splitArgs(m, kwargs)
		if err != nil {
			return nil, err
		}
		pos := thread.CallFrame(1).Pos
		task := com.name
		if task == "" {
			task = fmt.Sprintf("%s (%s:%d)", m.Name, pos.Filename(), pos.Line)
		}
		if !e.tagsSelected(com.tags) {
			return e.skippedResult(task, m, targets), nil
		}
		// Per-host arguments: a function value is called with each host.
		perHost := map[*Host]modules.Params{}
		for _, h := range targets {
			if e.dropped[h.name] {
				continue
			}
			p, err := e.params(thread, m, raw, h)
			if err != nil {
				return nil, err
			}
			perHost[h] = p
		}
		if e.opts.Plan != nil {
			return e.plannedResult(task, m, targets, perHost), nil
		}
		res := e.runStep(task, m, com, targets, perHost)
		if e.ctx.Err() != nil {
			return nil, ErrInterrupted
		}
		if err := e.checkMaxFail(); err != nil {
			return nil, err
		}
		return res, nil
	}
}

// ErrMaxFail stops a run once too many hosts have failed.
var ErrMaxFail = errors.New("too many hosts failed")

// checkMaxFail stops the run when the share of hosts that failed or were
// unreachable exceeds --max-fail-percentage (a rolling change should not
// go on breaking hosts).
func (e *Engine) checkMaxFail() error {
	if e.opts.MaxFailPercent < 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	failed := len(e.dropped)
	total := len(e.recap)
	if total == 0 || failed*100 <= e.opts.MaxFailPercent*total {
		return nil
	}
	return fmt.Errorf("%w: %d of %d hosts (more than --max-fail-percentage %d%%); stopping the run", ErrMaxFail, failed, total, e.opts.MaxFailPercent)
}

// targets turns the first argument of a module call into hosts.
func (e *Engine) targets(v starlark.Value) ([]*Host, error) {
	switch v := v.(type) {
	case *Group:
		return v.hosts, nil
	case *Host:
		return []*Host{v}, nil
	case starlark.String:
		g, err := e.match(string(v))
		if err != nil {
			return nil, err
		}
		return g.hosts, nil
	case *Result:
		return v.hostsWhere(func(*HostResult) bool { return true }), nil
	case *starlark.List, starlark.Tuple:
		var out []*Host
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			hs, err := e.targets(x)
			if err != nil {
				return nil, err
			}
			out = union(out, hs)
		}
		return out, nil
	}
	return nil, fmt.Errorf("targets must be hosts (a group, a host, a pattern string or a list), not %s", v.Type())
}

// splitArgs separates the common keyword arguments from the module's own
// and rejects unknown names, listing the valid ones.
func (e *Engine) splitArgs(m *modules.Module, kwargs []starlark.Tuple) (common, map[string]starlark.Value, error) {
	com := common{become: e.opts.Become, delay: 5 * time.Second}
	raw := map[string]starlark.Value{}
	valid := map[string]bool{}
	for _, p := range m.Params {
		valid[p.Name] = true
	}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		v := kv[1]
		var err error
		if k == "name" && valid["name"] {
			// The module's own name parameter (service, network, stack...):
			// the step's title is then set with task=.
			raw[k] = v
			if com.name == "" {
				if s, ok := starlark.AsString(v); ok {
					com.name = m.Name + " " + s
				}
			}
			continue
		}
		switch k {
		case "name", "task":
			com.name, err = asString(v)
		case "become":
			com.become = bool(v.Truth())
		case "ignore_errors":
			com.ignoreErrors = bool(v.Truth())
		case "timeout":
			com.timeout, err = asDuration(v)
		case "retries":
			var i int64
			i, err = asInt(v)
			com.retries = int(i)
		case "delay":
			com.delay, err = asDuration(v)
		case "tags":
			com.tags, err = asStrings(v)
		case "check_mode":
			com.check = bool(v.Truth())
		default:
			if !valid[k] {
				return com, nil, fmt.Errorf("%s: unknown argument %q; valid arguments: %s", m.Name, k, strings.Join(validNames(m), ", "))
			}
			raw[k] = v
			continue
		}
		if err != nil {
			return com, nil, fmt.Errorf("%s: argument %s: %v", m.Name, k, err)
		}
	}
	return com, raw, nil
}

func validNames(m *modules.Module) []string {
	var names []string
	for _, p := range m.Params {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	for _, p := range commonDocs {
		names = append(names, p.Name)
	}
	return names
}

// params validates one host's arguments against the schema.
func (e *Engine) params(thread *starlark.Thread, m *modules.Module, raw map[string]starlark.Value, h *Host) (modules.Params, error) {
	p := modules.Params{}
	for _, spec := range m.Params {
		v, given := raw[spec.Name]
		if !given && spec.Required {
			return nil, fmt.Errorf("%s: missing required argument %q (%s)", m.Name, spec.Name, spec.Doc)
		}
		var g any
		if given {
			var err error
			if g, err = argValue(thread, m, spec, v, h); err != nil {
				return nil, err
			}
		}
		// Not given, or None (for this host): the schema's default, if any.
		if g == nil {
			if spec.Default != nil {
				p[spec.Name] = spec.Default
			}
			continue
		}
		if _, unknown := hasUnknown(g); !unknown {
			var err error
			if g, err = checkType(spec, g); err != nil {
				return nil, fmt.Errorf("%s: argument %s: %v", m.Name, spec.Name, err)
			}
		}
		if spec.Sensitive {
			e.redact.AddValue(g)
		}
		p[spec.Name] = g
	}
	return p, nil
}

// argValue is an argument's Go value on host h: a function of the host
// (lambda h: ...) is called first.
func argValue(thread *starlark.Thread, m *modules.Module, spec modules.Param, v starlark.Value, h *Host) (any, error) {
	if fn, ok := v.(starlark.Callable); ok && !isValueBuiltin(v) {
		out, err := starlark.Call(thread, fn, starlark.Tuple{h}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: argument %s for host %s: %v", m.Name, spec.Name, h.name, err)
		}
		v = out
	}
	g, err := toGo(v)
	if err != nil {
		return nil, fmt.Errorf("%s: argument %s: %v", m.Name, spec.Name, err)
	}
	return g, nil
}

// isValueBuiltin keeps builtins such as the module functions from being
// mistaken for per-host argument functions.
func isValueBuiltin(v starlark.Value) bool {
	_, ok := v.(*starlark.Builtin)
	return ok
}

func checkType(spec modules.Param, v any) (any, error) {
	bad := func() error { return fmt.Errorf("want %s, got %s", spec.Type, goTypeName(v)) }
	switch spec.Type {
	case modules.String:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if len(spec.Choices) > 0 {
			for _, c := range spec.Choices {
				if s == c {
					return s, nil
				}
			}
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(spec.Choices, ", "))
		}
	case modules.Int:
		if _, ok := v.(int64); !ok {
			return nil, bad()
		}
	case modules.Float:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
		default:
			return nil, bad()
		}
	case modules.Bool:
		if _, ok := v.(bool); !ok {
			return nil, bad()
		}
	case modules.List:
		switch x := v.(type) {
		case []any:
		case string:
			return []any{x}, nil // a single item where a list is expected
		default:
			return nil, bad()
		}
	case modules.Dict:
		if _, ok := v.(map[string]any); !ok {
			return nil, bad()
		}
	}
	return v, nil
}

func goTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

func (e *Engine) tagsSelected(tags []string) bool {
	for _, t := range tags {
		for _, s := range e.opts.SkipTags {
			if t == s {
				return false
			}
		}
	}
	if len(e.opts.Tags) == 0 {
		return true
	}
	for _, t := range tags {
		if t == "always" {
			return true
		}
		for _, s := range e.opts.Tags {
			if t == s {
				return true
			}
		}
	}
	return false
}

func (e *Engine) skippedResult(task string, m *modules.Module, targets []*Host) *Result {
	r := &Result{task: task, module: m.Name}
	for _, h := range targets {
		r.order = append(r.order, &HostResult{host: h, Status: StatusSkipped, Msg: "skipped by tags",
			unknown: fmt.Sprintf("step %q was skipped by --tags/--skip-tags", task)})
	}
	return r
}

// plannedResult reports a step to opts.Plan instead of running it; its
// outputs are unknown and it changed nothing.
func (e *Engine) plannedResult(task string, m *modules.Module, targets []*Host, perHost map[*Host]modules.Params) *Result {
	r := &Result{task: task, module: m.Name}
	var names []string
	for _, h := range targets {
		if _, ok := perHost[h]; ok {
			names = append(names, h.name)
			r.order = append(r.order, &HostResult{host: h, Status: StatusSkipped, Msg: "not run",
				unknown: fmt.Sprintf("step %q is not run by --list-hosts or --syntax-check", task)})
		}
	}
	e.opts.Plan(task, m.Name, names)
	return r
}

// runStep runs a module on every host of a step in parallel, bounded by
// --forks, and records the results.
func (e *Engine) runStep(task string, m *modules.Module, com common, targets []*Host, perHost map[*Host]modules.Params) *Result {
	task = e.redact.Redact(task) // a title may be built from a secret
	r := &Result{task: task, module: m.Name}
	var active []*Host
	for _, h := range targets {
		if _, ok := perHost[h]; ok {
			active = append(active, h)
		}
	}
	// A title may be built from a secret (a name with env() in it).
	info := StepInfo{Task: e.redact.Redact(task), Module: m.Name, Hosts: len(active)}
	e.opts.Reporter.StepStart(info)
	results := make([]*HostResult, len(active))
	var wg sync.WaitGroup
	for i, h := range active {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case e.sem <- struct{}{}:
			case <-e.ctx.Done():
				results[i] = &HostResult{host: h, Status: StatusFailed, Msg: "interrupted"}
				return
			}
			defer func() { <-e.sem }()
			hr := e.runHost(m, com, h, perHost[h])
			results[i] = hr
			e.record(info, hr, com)
		}()
	}
	wg.Wait()
	r.order = results
	e.opts.Reporter.StepEnd(info)
	return r
}

// record updates the recap and drop list and reports one host's result.
func (e *Engine) record(info StepInfo, hr *HostResult, com common) {
	hr.Msg = e.redact.Redact(hr.Msg)
	hr.Diff = e.redact.Redact(hr.Diff)
	for i, c := range hr.Changes {
		hr.Changes[i] = e.redact.Redact(c)
	}
	for _, k := range []string{"stdout", "stderr"} {
		if s, ok := hr.Outputs[k].(string); ok && s != "" {
			hr.Detail += k + ": " + e.redact.Redact(strings.TrimRight(s, "\n")) + "\n"
		}
	}
	e.mu.Lock()
	c := e.recap[hr.host.name]
	if c == nil {
		// Hosts enter the recap when a step runs on them.
		c = &Counts{}
		e.recap[hr.host.name] = c
	}
	switch hr.Status {
	case StatusOK:
		c.OK++
	case StatusChanged:
		c.OK++
		c.Changed++
	case StatusSkipped:
		c.Skipped++
	case StatusFailed:
		if com.ignoreErrors {
			hr.Ignored = true
			c.Ignored++
		} else {
			c.Failed++
			e.dropped[hr.host.name] = true
		}
	case StatusUnreachable:
		c.Unreachable++
		e.dropped[hr.host.name] = true
	}
	e.mu.Unlock()
	e.opts.Reporter.HostDone(info, hr)
}

// connectionLost tells a dropped connection from a failed step.
func connectionLost(c connection.Conn, err error) bool {
	if errors.Is(err, connection.ErrConnectionLost) {
		return true
	}
	l, ok := c.(interface{ Lost() bool })
	return ok && l.Lost()
}

// DiffHidden replaces the diff of a step whose arguments hold a secret.
const DiffHidden = "(diff hidden: the step's arguments hold a secret; it changed)"

// runHost runs one module on one host with retries and a timeout.
func (e *Engine) runHost(m *modules.Module, com common, h *Host, p modules.Params) (hr *HostResult) {
	hr = &HostResult{host: h}
	c, err := e.conn(e.ctx, h)
	if err != nil {
		hr.Status = StatusUnreachable
		hr.Msg = err.Error()
		return hr
	}
	check := e.opts.Check || com.check
	for name, v := range p {
		if why, ok := hasUnknown(v); ok {
			if check {
				hr.Status = StatusChanged
				hr.Msg = fmt.Sprintf("would run; %s is known only after earlier steps apply", name)
				hr.unknown = "output of a step that --check did not apply"
				return hr
			}
			hr.Status = StatusFailed
			hr.Msg = fmt.Sprintf("argument %s has no value: %s", name, why)
			return hr
		}
	}
	t := e.target(h, c, e.becomeFor(h, com.become))
	t.Check = check
	var res *modules.Result
	for attempt := 0; ; attempt++ {
		res, err = e.attempt(m, t, p, com.timeout)
		if err == nil || attempt >= com.retries || e.ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(com.delay):
		case <-e.ctx.Done():
		}
	}
	if err != nil {
		hr.Status = StatusFailed
		if connectionLost(c, err) {
			// Not the step's failure: the host is gone (Ansible: UNREACHABLE).
			hr.Status = StatusUnreachable
		}
		hr.Msg = err.Error()
		if e.ctx.Err() != nil {
			hr.Msg = "interrupted: " + hr.Msg
		}
		return hr
	}
	for _, name := range m.SensitiveOutputs {
		if v, ok := res.Outputs[name]; ok {
			e.redact.AddValue(v)
		}
	}
	hr.Msg, hr.Diff, hr.Outputs, hr.Changes = res.Msg, res.Diff, res.Outputs, slices.Clone(res.Changes)
	if hr.Diff != "" && e.redact.Holds(map[string]any(p)) {
		// Masking the secret is not enough: the lines around it, and the
		// previous content (an older password), are as secret.
		hr.Diff = DiffHidden + "\n"
	}
	switch {
	case res.Skipped:
		hr.Status = StatusSkipped
	case res.Changed:
		hr.Status = StatusChanged
		if check {
			// What a changed step would output is not known until it runs.
			hr.unknown = fmt.Sprintf("%s on %s would change under --check", m.Name, h.name)
		}
	default:
		hr.Status = StatusOK
	}
	return hr
}

// becomeFor is a step's become on a host: ansible_become on a host makes
// every step on it go through sudo.
func (e *Engine) becomeFor(h *Host, become bool) bool {
	return become || h.cvars.Become
}

// attempt runs the module once, turning a panic into a failure and
// applying the step's timeout.
func (e *Engine) attempt(m *modules.Module, t *modules.Target, p modules.Params, timeout time.Duration) (res *modules.Result, err error) {
	ctx := e.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("internal error in module %s: %v\n%s", m.Name, x, debug.Stack())
		}
	}()
	res, err = m.Run(ctx, t, p)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && e.ctx.Err() == nil {
		err = fmt.Errorf("timed out after %s: %v", timeout, err)
	}
	if err == nil && res == nil {
		res = &modules.Result{}
	}
	return res, err
}

func asString(v starlark.Value) (string, error) {
	s, ok := starlark.AsString(v)
	if !ok {
		return "", fmt.Errorf("want string, got %s", v.Type())
	}
	return s, nil
}

func asInt(v starlark.Value) (int64, error) {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0, fmt.Errorf("want int, got %s", v.Type())
	}
	n, _ := i.Int64()
	return n, nil
}

func asDuration(v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case starlark.Int:
		n, _ := v.Int64()
		return time.Duration(n) * time.Second, nil
	case starlark.Float:
		return time.Duration(float64(v) * float64(time.Second)), nil
	case starlark.String:
		if d, err := time.ParseDuration(string(v)); err == nil {
			return d, nil
		}
		if n, err := strconv.ParseFloat(string(v), 64); err == nil {
			return time.Duration(n * float64(time.Second)), nil
		}
	}
	return 0, fmt.Errorf("want seconds (a number) or a duration like \"90s\", got %s", v.String())
}

func asStrings(v starlark.Value) ([]string, error) {
	if s, ok := v.(starlark.String); ok {
		return []string{string(s)}, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("want a list of strings, got %s", v.Type())
	}
	iter := it.Iterate()
	defer iter.Done()
	var out []string
	var x starlark.Value
	for iter.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got a %s in it", x.Type())
		}
		out = append(out, s)
	}
	return out, nil
}
