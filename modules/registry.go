package modules

import "sort"

// Registry is a set of modules by name. The runtime plays with the one it
// is given (runtime.Options.Modules); Default holds the built-in modules,
// which register themselves from init. Tests that add or replace modules
// build their own with With instead of editing Default.
type Registry struct{ byName map[string]*Module }

// Default is the registry of the built-in modules.
var Default = NewRegistry()

// NewRegistry returns a registry of ms.
func NewRegistry(ms ...*Module) *Registry {
	r := &Registry{byName: map[string]*Module{}}
	for _, m := range ms {
		r.Register(m)
	}
	return r
}

// Register adds a module; a second module of the same name is a bug.
func (r *Registry) Register(m *Module) {
	if _, dup := r.byName[m.Name]; dup {
		panic("modules: duplicate module " + m.Name)
	}
	r.byName[m.Name] = m
}

// With returns a new registry: r's modules, then ms, which replace any of
// the same name. r is unchanged.
func (r *Registry) With(ms ...*Module) *Registry {
	out := &Registry{byName: make(map[string]*Module, len(r.byName)+len(ms))}
	for n, m := range r.byName {
		out.byName[n] = m
	}
	for _, m := range ms {
		out.byName[m.Name] = m
	}
	return out
}

// Get returns the named module.
func (r *Registry) Get(name string) (*Module, bool) { m, ok := r.byName[name]; return m, ok }

// All returns every module, sorted by name.
func (r *Registry) All() []*Module {
	out := make([]*Module, 0, len(r.byName))
	for _, m := range r.byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Register adds a built-in module to Default; each module file calls it
// from init.
func Register(m *Module) { Default.Register(m) }

// Get returns the named built-in module.
func Get(name string) (*Module, bool) { return Default.Get(name) }

// All returns every built-in module, sorted by name.
func All() []*Module { return Default.All() }
