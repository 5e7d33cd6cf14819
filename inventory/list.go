package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// ListJSON renders the inventory as `ansible-inventory --list` does:
// one object per non-empty group with its hosts and children, "all"
// with its children only, and _meta.hostvars with every host's merged
// variables (hosts without variables are left out).
func (inv *Inventory) ListJSON() ([]byte, error) {
	out := map[string]any{}
	seen := map[*group]bool{}
	var format func(g *group)
	format = func(g *group) {
		entry := map[string]any{}
		if g.name != "all" && len(g.hosts) > 0 {
			names := make([]string, len(g.hosts))
			for i, h := range g.hosts {
				names[i] = h.name
			}
			entry["hosts"] = names
		}
		if len(g.children) > 0 {
			names := make([]string, len(g.children))
			for i, c := range g.children {
				names[i] = c.name
			}
			entry["children"] = names
		}
		if len(entry) > 0 {
			out[g.name] = entry
		}
		for _, c := range g.children {
			if !seen[c] {
				seen[c] = true
				format(c)
			}
		}
	}
	format(inv.groups["all"])

	hostvars := map[string]any{}
	for _, h := range inv.ordered {
		if len(h.Vars) > 0 {
			hostvars[h.Name] = inv.jsonSafe(h.Vars)
		}
	}
	out["_meta"] = map[string]any{"hostvars": hostvars}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// HostJSON renders one host's variables as `ansible-inventory --host`.
func (inv *Inventory) HostJSON(name string) ([]byte, error) {
	h := inv.merged[name]
	if h == nil {
		return nil, fmt.Errorf("no host %q in the inventory", name)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(inv.jsonSafe(h.Vars)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonSafe replaces values encoding/json refuses (NaN, ±Inf from YAML's
// .nan/.inf) with the strings Python would print, and decrypted vault
// values with what ansible-inventory shows (or a mask).
func (inv *Inventory) jsonSafe(v any) any {
	switch v := v.(type) {
	case string:
		return inv.vault.listValue(v)
	case float64:
		switch {
		case math.IsNaN(v):
			return "NaN"
		case math.IsInf(v, 1):
			return "Infinity"
		case math.IsInf(v, -1):
			return "-Infinity"
		}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = inv.jsonSafe(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = inv.jsonSafe(x)
		}
		return out
	}
	return v
}

// Graph renders the group tree like `ansible-inventory --graph`.
func (inv *Inventory) Graph() string {
	var lines []string
	var walk func(g *group, depth int)
	walk = func(g *group, depth int) {
		lines = append(lines, graphName("@"+g.name+":", depth))
		for _, c := range g.children {
			walk(c, depth+1)
		}
		if g.name != "all" {
			for _, h := range g.hosts {
				lines = append(lines, graphName(h.name, depth+1))
			}
		}
	}
	walk(inv.groups["all"], 0)
	return strings.Join(lines, "\n") + "\n"
}

func graphName(name string, depth int) string {
	if depth == 0 {
		return name
	}
	return strings.Repeat("  |", depth) + "--" + name
}
