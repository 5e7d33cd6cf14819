package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/swarmrun/swarmrun/vault"
	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
)

// builtins are the names every playbook and library file sees.
func (e *Engine) builtins() starlark.StringDict {
	d := starlark.StringDict{
		"hosts":        starlark.NewBuiltin("hosts", e.builtinHosts),
		"var":          starlark.NewBuiltin("var", e.builtinVar),
		"env":          starlark.NewBuiltin("env", e.builtinEnv),
		"file":         starlark.NewBuiltin("file", e.builtinFile),
		"fail":         starlark.NewBuiltin("fail", builtinFail),
		"rolling":      starlark.NewBuiltin("rolling", e.builtinRolling),
		"swarm_status": starlark.NewBuiltin("swarm_status", e.builtinSwarmStatus),
		"check_mode":   starlark.Bool(e.opts.Check),
		"json":         starjson.Module,
	}
	for _, m := range e.opts.Modules.All() {
		d[m.Name] = starlark.NewBuiltin(m.Name, e.moduleBuiltin(m))
	}
	if m, ok := e.opts.Modules.Get("file"); ok {
		// Two meanings, told apart by the call: file("x.txt") reads a
		// controller file (README: Inputs); file(hosts, path = ...) is
		// Ansible's file module. A module call always has keyword arguments.
		run := e.moduleBuiltin(m)
		d["file"] = starlark.NewBuiltin("file", func(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(kwargs) == 0 && len(args) == 1 {
				return e.builtinFile(t, b, args, kwargs)
			}
			return run(t, b, args, kwargs)
		})
	}
	return d
}

// hosts(pattern) returns the group of inventory hosts an Ansible pattern
// selects, narrowed by --limit.
func (e *Engine) builtinHosts(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &pattern); err != nil {
		return nil, err
	}
	return e.match(pattern)
}

func (e *Engine) match(pattern string) (*Group, error) {
	specs, err := e.opts.Match(pattern)
	if err != nil {
		return nil, fmt.Errorf("hosts(%q): %v", pattern, err)
	}
	g := &Group{label: pattern}
	for _, s := range specs {
		if e.opts.Limit != nil && !e.opts.Limit[s.Name] {
			continue
		}
		g.hosts = append(g.hosts, e.host(s))
	}
	return g, nil
}

// var(name, default) reads a variable: -e extra vars first, then the
// inventory's "all" group. Per-host variables are host.vars.
func (e *Engine) builtinVar(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var def starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &def); err != nil {
		return nil, err
	}
	if v, ok := e.opts.ExtraVars[name]; ok {
		return toStarlark(v), nil
	}
	if v, ok := e.opts.GlobalVars[name]; ok {
		return toStarlark(v), nil
	}
	if def != nil {
		return def, nil
	}
	return nil, fmt.Errorf("variable %q is not set: pass -e %s=VALUE or set it in group_vars/all", name, name)
}

// env(name, default) reads the controller's environment. Values read here
// are treated as secrets: they are redacted from all output.
func (e *Engine) builtinEnv(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var def starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &def); err != nil {
		return nil, err
	}
	if v, ok := os.LookupEnv(name); ok {
		e.redact.Add(v)
		return starlark.String(v), nil
	}
	if def != nil {
		return def, nil
	}
	return nil, fmt.Errorf("environment variable %s is not set", name)
}

// file(path) returns the content of a file (decrypted, and then a secret,
// if it is vault-encrypted). Like modules' src arguments, a
// relative path starts at the playbook's directory, also when a library
// file calls it, so a path means the same wherever it is passed.
func (e *Engine) builtinFile(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &path); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(e.dir, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if vault.IsEncrypted(data) {
		if data, _, err = vault.Decrypt(data, e.opts.Vault); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		e.redact.Add(string(data))
		for _, line := range strings.Split(string(data), "\n") {
			e.redact.Add(line)
		}
	}
	return starlark.String(data), nil
}

// fail(msg) stops the playbook with an error at the calling line.
func builtinFail(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(starlark.String); ok {
			parts[i] = string(s)
		} else {
			parts[i] = a.String()
		}
	}
	return nil, fmt.Errorf("%s", strings.Join(parts, " "))
}
