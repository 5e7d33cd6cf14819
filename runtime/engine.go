// Package runtime plays Starlark playbooks: it embeds the interpreter,
// exposes hosts, results and modules as Starlark values, fans each module
// step out over its hosts in parallel, and reports what happened.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
	"github.com/swarmrun/swarmrun/vault"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// HostSpec is an inventory host as the engine needs it.
type HostSpec struct {
	Name string
	Vars map[string]any
}

// Options configure a run. Match, Dial and Reporter are required.
type Options struct {
	Check    bool
	Diff     bool
	Forks    int             // hosts worked on at once per step; <= 0 means 256
	Tags     []string        // run only steps with one of these tags ("always" steps too)
	SkipTags []string        // never run steps with one of these tags
	Limit    map[string]bool // when non-nil, only these hosts take part
	Become   bool            // default for every step's become
	// MaxFailPercent stops the run after a step once more than this share
	// of the hosts seen so far failed; < 0 never stops (Ansible's default).
	MaxFailPercent int

	ExtraVars  map[string]any // -e: highest precedence
	GlobalVars map[string]any // the inventory's group "all"

	// Vault opens vault-encrypted files read with file(); their content
	// is then a secret.
	Vault []vault.Secret

	// Modules are the modules playbooks can call; nil means
	// modules.Default, the built-in ones.
	Modules *modules.Registry

	// Match resolves an Ansible host pattern against the inventory.
	Match func(pattern string) ([]HostSpec, error)
	// Dial opens a host's connection (called once per host, lazily).
	Dial     func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error)
	Reporter Reporter

	// Plan, when set, makes steps evaluate and validate their arguments
	// without running and without connecting (--list-hosts,
	// --syntax-check): Plan is told each step's title, module and hosts.
	Plan func(task, module string, hosts []string)
}

// ErrInterrupted is returned by Play when its context was cancelled.
var ErrInterrupted = errors.New("interrupted")

// Engine is one run of a playbook.
type Engine struct {
	opts    Options
	ctx     context.Context
	redact  *Redactor
	sem     chan struct{}
	mu      sync.Mutex
	hosts   map[string]*Host
	conns   map[string]*hostConn
	dropped map[string]bool // failed or unreachable: out of later steps
	recap   map[string]*Counts
	loaded  map[string]*loadEntry
	facts_  map[string]starlark.Value
	predecl starlark.StringDict
	dir     string // the playbook's directory: relative paths start here
}

// Counts is one host's line of the recap.
type Counts struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Unreachable int `json:"unreachable"`
	Ignored     int `json:"ignored"`
}

type hostConn struct {
	once sync.Once
	conn connection.Conn
	err  error
}

type loadEntry struct {
	globals starlark.StringDict
	err     error
}

// New prepares an engine; Play runs it.
func New(ctx context.Context, o Options) *Engine {
	if o.Forks <= 0 {
		o.Forks = 256
	}
	if o.Reporter == nil {
		o.Reporter = NewJSONReporter(os.Stdout)
	}
	if o.Modules == nil {
		o.Modules = modules.Default
	}
	e := &Engine{
		opts:    o,
		ctx:     ctx,
		redact:  NewRedactor(),
		sem:     make(chan struct{}, o.Forks),
		hosts:   map[string]*Host{},
		conns:   map[string]*hostConn{},
		dropped: map[string]bool{},
		recap:   map[string]*Counts{},
		loaded:  map[string]*loadEntry{},
		facts_:  map[string]starlark.Value{},
	}
	e.predecl = e.builtins()
	return e
}

// Redactor returns the run's redactor, so the CLI can scrub its own messages.
func (e *Engine) Redactor() *Redactor { return e.redact }

// Play executes the playbook file. A Starlark error (syntax, fail(), bad
// argument) is returned as is; host failures are in the recap.
func (e *Engine) Play(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return err
	}
	return e.PlaySource(abs, src)
}

// PlaySource executes a playbook given as source; filename names it in
// messages and its directory is where relative paths start.
func (e *Engine) PlaySource(filename string, src []byte) error {
	e.dir = filepath.Dir(filename)
	thread := e.newThread("main")
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-e.ctx.Done():
			thread.Cancel("interrupted")
		case <-done:
		}
	}()
	_, err := starlark.ExecFileOptions(fileOptions, thread, displayPath(filename), src, e.predecl)
	if e.ctx.Err() != nil {
		return ErrInterrupted
	}
	return err
}

func (e *Engine) newThread(name string) *starlark.Thread {
	return &starlark.Thread{
		Name: name,
		Load: e.load,
		Print: func(_ *starlark.Thread, msg string) {
			e.opts.Reporter.Print(e.redact.Redact(msg))
		},
	}
}

var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

func (e *Engine) exec(thread *starlark.Thread, abs string) (starlark.StringDict, error) {
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	return starlark.ExecFileOptions(fileOptions, thread, displayPath(abs), src, e.predecl)
}

// displayPath shortens a path relative to the working directory for
// messages (file:line) when that is shorter.
func displayPath(abs string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && len(rel) < len(abs) {
			return rel
		}
	}
	return abs
}

// load implements load("lib/x.star", ...) relative to the loading file.
func (e *Engine) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos.Filename()
	path := module
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(absPath(from)), module)
	}
	e.mu.Lock()
	ent, ok := e.loaded[path]
	if ok && ent == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("cycle in load graph at %s", module)
	}
	if ok {
		e.mu.Unlock()
		return ent.globals, ent.err
	}
	e.loaded[path] = nil
	e.mu.Unlock()

	t := e.newThread(module)
	globals, err := e.exec(t, path)
	e.mu.Lock()
	e.loaded[path] = &loadEntry{globals, err}
	e.mu.Unlock()
	return globals, err
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// host interns a Host value for an inventory host.
func (e *Engine) host(s HostSpec) *Host {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h, ok := e.hosts[s.Name]; ok {
		return h
	}
	cv := connection.ReadVars(s.Vars)
	vars := starlark.NewDict(len(s.Vars))
	for _, k := range slices.Sorted(maps.Keys(s.Vars)) {
		vars.SetKey(starlark.String(k), toStarlark(s.Vars[k]))
	}
	vars.Freeze()
	// Passwords from the inventory (or -e) are masked like --become's: a
	// playbook may print h.vars, a command may echo them.
	for _, pw := range cv.Secrets() {
		e.redact.Add(pw)
	}
	h := &Host{name: s.Name, address: cv.Address(s.Name), vars: vars, eng: e}
	h.spec, h.cvars = s, cv
	e.hosts[s.Name] = h
	return h
}

// conn returns the host's connection, dialling it once.
func (e *Engine) conn(ctx context.Context, h *Host) (connection.Conn, error) {
	e.mu.Lock()
	hc, ok := e.conns[h.name]
	if !ok {
		hc = &hostConn{}
		e.conns[h.name] = hc
	}
	e.mu.Unlock()
	hc.once.Do(func() {
		hc.conn, hc.err = e.opts.Dial(ctx, h.name, h.spec.Vars)
	})
	return hc.conn, hc.err
}

// docker returns the host's Docker Engine API client; the connection keeps
// it (one per become setting).
func (e *Engine) docker(ctx context.Context, h *Host, become bool) (client.APIClient, error) {
	c, err := e.conn(ctx, h)
	if err != nil {
		return nil, err
	}
	return c.Docker(ctx, become)
}

// Close ends every connection.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, hc := range e.conns {
		if hc.conn != nil {
			hc.conn.Close()
		}
	}
}

// Recap returns each host's counts, in name order.
func (e *Engine) Recap() map[string]Counts {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]Counts, len(e.recap))
	for k, v := range e.recap {
		out[k] = *v
	}
	return out
}

// Exit codes, documented in the README.
const (
	ExitOK          = 0
	ExitError       = 1 // usage, inventory or playbook error
	ExitFailed      = 2 // a host failed
	ExitUnreachable = 3 // a host was unreachable and none failed
	ExitInterrupted = 130
	// ExitChanges: with --detailed-exitcode, every host ok and at least
	// one change made (or, with --check, predicted). Not 4 or 5: those are
	// ansible-playbook's parser and option errors.
	ExitChanges = 6
)

// DetailedExitCode is ExitCode, except that a run whose hosts are all
// ok but changed something (in check mode: would change) gives ExitChanges.
func DetailedExitCode(recap map[string]Counts) int {
	code := ExitCode(recap)
	if code != ExitOK {
		return code
	}
	for _, c := range recap {
		if c.Changed > 0 {
			return ExitChanges
		}
	}
	return ExitOK
}

// ExitCode derives the process exit code from the recap.
func ExitCode(recap map[string]Counts) int {
	unreachable := false
	for _, c := range recap {
		if c.Failed > 0 {
			return ExitFailed
		}
		if c.Unreachable > 0 {
			unreachable = true
		}
	}
	if unreachable {
		return ExitUnreachable
	}
	return ExitOK
}

func sortedHostNames(m map[string]Counts) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// facts gathers a host's facts once, with the facts module.
func (e *Engine) facts(h *Host) (starlark.Value, error) {
	if e.opts.Plan != nil {
		return &Unknown{why: "facts are not gathered by --list-hosts or --syntax-check"}, nil
	}
	e.mu.Lock()
	v, ok := e.facts_[h.name]
	e.mu.Unlock()
	if ok {
		return v, nil
	}
	mod, ok := e.opts.Modules.Get("facts")
	if !ok {
		return nil, errors.New("facts are not available: no facts module")
	}
	c, err := e.conn(e.ctx, h)
	if err != nil {
		return nil, fmt.Errorf("%s: unreachable: %v", h.name, e.redact.Redact(err.Error()))
	}
	t := e.target(h, c, e.opts.Become)
	t.Check = false // gathering facts changes nothing
	res, err := mod.Run(e.ctx, t, modules.Params{})
	if err != nil {
		return nil, fmt.Errorf("%s: gathering facts: %v", h.name, e.redact.Redact(err.Error()))
	}
	d := toStarlark(res.Outputs)
	d.Freeze()
	e.mu.Lock()
	e.facts_[h.name] = d
	e.mu.Unlock()
	return d, nil
}

func (e *Engine) target(h *Host, c connection.Conn, become bool) *modules.Target {
	return &modules.Target{
		Name:    h.name,
		Address: h.address,
		Vars:    h.spec.Vars,
		Conn:    c,
		Check:   e.opts.Check,
		Diff:    e.opts.Diff,
		Become:  become,
		Dir:     e.dir,
		Docker: func(ctx context.Context) (client.APIClient, error) {
			return e.docker(ctx, h, become)
		},
		Reconnect: func(ctx context.Context) (connection.Conn, error) {
			return e.redial(ctx, h)
		},
	}
}

// redial replaces a host's connection (and so its Docker clients) with a new one,
// for a host that rebooted.
func (e *Engine) redial(ctx context.Context, h *Host) (connection.Conn, error) {
	c, err := e.opts.Dial(ctx, h.name, h.spec.Vars)
	if err != nil {
		return nil, err
	}
	hc := &hostConn{conn: c}
	hc.once.Do(func() {})
	e.mu.Lock()
	old := e.conns[h.name]
	e.conns[h.name] = hc
	e.mu.Unlock()
	if old != nil && old.conn != nil {
		old.conn.Close()
	}
	return c, nil
}
