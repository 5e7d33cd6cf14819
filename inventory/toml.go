package inventory

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// parseTOML reads Ansible's toml inventory: each top-level table is a
// group with optional vars (a table), children (a list of group names)
// and hosts (a table of host patterns to variables). Groups and hosts keep
// the file's order, as Python's dicts do.
func (inv *Inventory) parseTOML(data []byte) error {
	var doc map[string]any
	md, err := toml.Decode(string(trimBOM(data)), &doc)
	if err != nil {
		return fmt.Errorf("%s: %v", inv.path, err)
	}
	order := keyOrder(md.Keys())
	for _, name := range order[""] {
		if err := inv.tomlGroup(name, doc[name], order); err != nil {
			return err
		}
	}
	return nil
}

// keyOrder lists, for each table path ("" the root, "web.hosts"...), its
// keys in the order the file first mentions them.
func keyOrder(keys []toml.Key) map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, k := range keys {
		for i := range k {
			parent := strings.Join(k[:i], ".")
			id := parent + "\x00" + k[i]
			if !seen[id] {
				seen[id] = true
				out[parent] = append(out[parent], k[i])
			}
		}
	}
	return out
}

func (inv *Inventory) tomlGroup(name string, body any, order map[string][]string) error {
	m, ok := body.(map[string]any)
	if body != nil && !ok {
		return nil // Ansible skips it with a warning
	}
	g := inv.addGroup(name)
	for _, key := range order[name] {
		data := m[key]
		switch key {
		case "vars":
			vars, ok := data.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: vars of group %s must be a table", inv.path, name)
			}
			for k, v := range vars {
				if err := g.setVar(k, tomlValue(v)); err != nil {
					return fmt.Errorf("%s: %v", inv.path, err)
				}
			}
		case "children":
			list, ok := data.([]any)
			if !ok {
				return fmt.Errorf("%s: children of group %s must be a list", inv.path, name)
			}
			for _, c := range list {
				child := inv.addGroup(fmt.Sprint(c))
				if err := inv.addChild(g, child); err != nil {
					return fmt.Errorf("%s: %v", inv.path, err)
				}
			}
		case "hosts":
			if err := inv.tomlHosts(g, data, order[name+".hosts"]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (inv *Inventory) tomlHosts(g *group, data any, order []string) error {
	hosts, ok := data.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: hosts of group %s must be a table", inv.path, g.name)
	}
	for _, pattern := range order {
		names, port, err := expandHostPattern(pattern)
		if err != nil {
			return fmt.Errorf("%s: %v", inv.path, err)
		}
		vars, _ := hosts[pattern].(map[string]any)
		for _, n := range names {
			h := inv.addHost(n, g, port)
			for k, v := range vars {
				h.vars[k] = tomlValue(v)
			}
		}
	}
	return nil
}

// tomlValue turns the decoder's int64s into ints like the other formats.
func tomlValue(v any) any {
	switch v := v.(type) {
	case int64:
		return int(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = tomlValue(x)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = tomlValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = tomlValue(x)
		}
		return out
	}
	return v
}
