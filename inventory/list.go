package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
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
	return unplaceholder(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
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
	return unplaceholder(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// jsonSafe makes floats print as Python prints them (3.0, 1e+20, and the
// bare Infinity/NaN tokens of json.dumps that encoding/json refuses) and
// decrypted vault values as ansible-inventory shows them (or masked).
func (inv *Inventory) jsonSafe(v any) any {
	switch v := v.(type) {
	case string:
		return inv.vault.listValue(v)
	case float64:
		return pyFloat(v)
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

// pyFloat is a float that encodes as Python's repr() writes it.
type pyFloat float64

// Placeholders for the tokens JSON has no syntax for; unplaceholder turns
// them into what Python's json.dumps prints.
const (
	phInf    = "\x00+Infinity\x00"
	phNegInf = "\x00-Infinity\x00"
	phNaN    = "\x00NaN\x00"
)

func (f pyFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return json.Marshal(phNaN)
	case math.IsInf(v, 1):
		return json.Marshal(phInf)
	case math.IsInf(v, -1):
		return json.Marshal(phNegInf)
	}
	return []byte(pyRepr(v)), nil
}

// pyRepr formats like Python's float repr: the shortest round-tripping
// digits, fixed notation with at least one decimal for exponents -4..15,
// else d.ddde+XX.
func pyRepr(v float64) string {
	e := strconv.FormatFloat(v, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	n, _ := strconv.Atoi(exp)
	if n >= -4 && n < 16 {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	sign := "+"
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%se%s%02d", mant, sign, n)
}

func unplaceholder(b []byte) []byte {
	r := strings.NewReplacer(
		`"\u0000+Infinity\u0000"`, "Infinity",
		`"\u0000-Infinity\u0000"`, "-Infinity",
		`"\u0000NaN\u0000"`, "NaN")
	return []byte(r.Replace(string(b)))
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
