package inventory

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseYAML reads the yaml inventory shape: top-level keys are groups,
// each a mapping with optional hosts, children and vars.
func (inv *Inventory) parseYAML(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(trimBOM(data), &doc); err != nil {
		return fmt.Errorf("%s:%s", inv.path, yamlErr(err))
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s: empty YAML inventory", inv.path)
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: YAML inventory must be a mapping of groups", inv.path, root.Line)
	}
	d := yamlDecoder{file: inv.path, vault: inv.vault}
	top, err := d.pairs(root)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(top); i += 2 {
		if k, _ := d.scalarKey(top[i]); k == "plugin" {
			return fmt.Errorf("%s:%d: this is an inventory plugin configuration, not a YAML inventory", inv.path, top[i].Line)
		}
	}
	for i := 0; i+1 < len(top); i += 2 {
		if _, err := inv.yamlGroup(&d, top[i], top[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (inv *Inventory) yamlGroup(d *yamlDecoder, keyNode, body *yaml.Node) (*group, error) {
	leave, err := d.enter(body)
	if err != nil {
		return nil, err
	}
	defer leave()
	name, err := d.scalarKey(keyNode)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, d.errf(keyNode, "empty group name")
	}
	body = resolve(body)
	if body.Kind != yaml.MappingNode && !isNull(body) {
		return nil, d.errf(body, "group %s must be a mapping with hosts, children or vars", name)
	}
	g := inv.addGroup(name)
	if isNull(body) {
		return g, nil
	}
	bodyPairs, err := d.pairs(body)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(bodyPairs); i += 2 {
		section, err := d.scalarKey(bodyPairs[i])
		if err != nil {
			return nil, err
		}
		val := resolve(bodyPairs[i+1])
		if isNull(val) {
			continue
		}
		// Ansible accepts a bare string where a mapping of one key is meant.
		if val.Kind == yaml.ScalarNode {
			val = &yaml.Node{Kind: yaml.MappingNode, Line: val.Line, Content: []*yaml.Node{val, {Kind: yaml.ScalarNode, Tag: "!!null", Line: val.Line}}}
		}
		switch section {
		case "vars", "children", "hosts":
		default:
			return nil, d.errf(bodyPairs[i], "unexpected key %q in group %s: only hosts, children and vars are valid", section, name)
		}
		if val.Kind != yaml.MappingNode {
			return nil, d.errf(val, "%q of group %s must be a mapping", section, name)
		}
		secPairs, err := d.pairs(val)
		if err != nil {
			return nil, err
		}
		for j := 0; j+1 < len(secPairs); j += 2 {
			if err := inv.yamlGroupEntry(d, g, section, secPairs[j], secPairs[j+1]); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

// yamlGroupEntry reads one entry k: v of a group's vars, children or hosts.
func (inv *Inventory) yamlGroupEntry(d *yamlDecoder, g *group, section string, k, v *yaml.Node) error {
	switch section {
	case "vars":
		key, err := d.scalarKey(k)
		if err != nil {
			return err
		}
		x, err := d.value(v)
		if err != nil {
			return err
		}
		if err := g.setVar(key, x); err != nil {
			return d.errf(v, "%v", err)
		}
	case "children":
		child, err := inv.yamlGroup(d, k, v)
		if err != nil {
			return err
		}
		if err := inv.addChild(g, child); err != nil {
			return d.errf(k, "%v", err)
		}
	case "hosts":
		return inv.yamlHost(d, g, k, v)
	}
	return nil
}

func (inv *Inventory) yamlHost(d *yamlDecoder, g *group, k, v *yaml.Node) error {
	k = resolve(k)
	if x, _ := d.value(k); x != nil {
		if _, ok := x.(string); !ok {
			return d.errf(k, "host pattern %s must be a string; enclose numbers in quotes", k.Value)
		}
	}
	names, port, err := expandHostPattern(k.Value)
	if err != nil {
		return d.errf(k, "%v", err)
	}
	vars, err := d.value(v)
	if err != nil {
		return err
	}
	if vars == nil {
		vars = map[string]any{}
	}
	m, ok := vars.(map[string]any)
	if !ok {
		return d.errf(v, "variables of host %s must be a mapping, got %s", k.Value, typeName(vars))
	}
	for _, n := range names {
		h := inv.addHost(n, g, port)
		for key, x := range m {
			h.vars[key] = x
		}
	}
	return nil
}

var (
	yamlLine    = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)
	parserError = regexp.MustCompile(`^(did not find expected|found duplicate %|found incompatible YAML|found undefined tag handle)`)
)

// yamlErr turns yaml.v3's "yaml: line 7: msg" into "7: msg" so callers
// can prefix the file name. yaml.v3 reports parser (as opposed to
// scanner) errors with a 0-based line, and none at all on the first
// line; this corrects both.
func yamlErr(err error) string {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return " " + err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	if parserError.MatchString(m[2]) {
		line++
	}
	if line == 0 {
		return " " + m[2]
	}
	return strconv.Itoa(line) + ": " + m[2]
}

// decodeYAMLValue decodes a whole vars file (YAML or JSON).
func decodeYAMLValue(file string, data []byte, v *Vault) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(trimBOM(data), &doc); err != nil {
		return nil, fmt.Errorf("%s:%s", file, yamlErr(err))
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	d := yamlDecoder{file: file, vault: v}
	return d.value(doc.Content[0])
}

// yamlDecoder turns yaml.v3 nodes into values. yaml.v3 hands back the
// node graph as written, so an alias may point into its own anchor (a
// cycle: endless recursion) or a few lines may alias each other into
// billions of nodes (an alias bomb): the decoder refuses both.
type yamlDecoder struct {
	file    string
	vault   *Vault              // opens !vault scalars
	path    map[*yaml.Node]bool // nodes being decoded, from the root down
	aliases int                 // alias nodes on that path
	made    int                 // nodes decoded below an alias so far
}

const (
	maxYAMLDepth    = 1000
	maxYAMLExpanded = 100000
)

// enter is called on every node before it is decoded; the returned
// function must be called when done with it.
func (d *yamlDecoder) enter(n *yaml.Node) (func(), error) {
	target := resolve(n)
	if d.path == nil {
		d.path = map[*yaml.Node]bool{}
	}
	if d.path[target] {
		return nil, d.errf(n, "recursive YAML alias: an anchor contains an alias to itself")
	}
	if len(d.path) >= maxYAMLDepth {
		return nil, d.errf(n, "YAML nested more than %d levels deep", maxYAMLDepth)
	}
	alias := n.Kind == yaml.AliasNode
	if alias {
		d.aliases++
	}
	if d.aliases > 0 {
		if d.made++; d.made > maxYAMLExpanded {
			return nil, d.errf(n, "YAML aliases expand to more than %d values", maxYAMLExpanded)
		}
	}
	d.path[target] = true
	return func() {
		delete(d.path, target)
		if alias {
			d.aliases--
		}
	}, nil
}

func (d *yamlDecoder) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", d.file, n.Line, fmt.Sprintf(format, args...))
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return resolve(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	v, _ := scalar(n)
	return v == nil
}

// scalarKey renders a mapping key as a string, as Python's json would.
func (d *yamlDecoder) scalarKey(n *yaml.Node) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return "", d.errf(n, "mapping keys must be scalars")
	}
	v, err := scalar(n)
	if err != nil {
		return "", d.errf(n, "%v", err)
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	if k, ok := jsonKey(v); ok {
		return k, nil
	}
	return n.Value, nil
}

// value converts a node to plain Go values with PyYAML's YAML 1.1 rules
// (yes/no/on/off are booleans, 0755 is octal, 1e3 is a string), because
// that is what Ansible reads.
func (d *yamlDecoder) value(n *yaml.Node) (any, error) {
	leave, err := d.enter(n)
	if err != nil {
		return nil, err
	}
	defer leave()
	n = resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!vault" {
			return d.vault.inlineValue(d.file, n)
		}
		v, err := scalar(n)
		if err != nil {
			// yaml.v3 quotes the value in its message: name the tag only.
			return nil, d.errf(n, "value is not a valid %s", n.Tag)
		}
		return v, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.value(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		content, err := d.pairs(n)
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(content); i += 2 {
			k, v := content[i], content[i+1]
			key, err := d.scalarKey(k)
			if err != nil {
				return nil, err
			}
			x, err := d.value(v)
			if err != nil {
				return nil, err
			}
			out[key] = x
		}
		return out, nil
	}
	return nil, d.errf(n, "unsupported YAML node")
}

// pairs returns a mapping's key and value nodes with "<<" merge keys
// flattened the way PyYAML does: merged pairs first (earlier sources
// last, so they win), then the mapping's own pairs. Processing them in
// order with last-wins gives YAML's merge semantics.
func (d *yamlDecoder) pairs(n *yaml.Node) ([]*yaml.Node, error) {
	n = resolve(n)
	var merged, own []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!merge" {
			own = append(own, k, v)
			continue
		}
		v = resolve(v)
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for j := len(srcs) - 1; j >= 0; j-- {
			src := resolve(srcs[j])
			if src.Kind != yaml.MappingNode {
				return nil, d.errf(src, "merge key << needs a mapping")
			}
			leave, err := d.enter(srcs[j])
			if err != nil {
				return nil, err
			}
			p, err := d.pairs(src)
			leave()
			if err != nil {
				return nil, err
			}
			// Merges copy pairs: nested merges multiply them.
			if d.made += len(p) / 2; d.made > maxYAMLExpanded {
				return nil, d.errf(src, "YAML aliases expand to more than %d values", maxYAMLExpanded)
			}
			merged = append(merged, p...)
		}
	}
	return append(merged, own...), nil
}

var (
	yaml11Int   = regexp.MustCompile(`^[-+]?(?:0b[01_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yaml11Float = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
)

// scalar implements PyYAML's SafeLoader implicit resolvers for plain
// scalars; quoted or !!str-tagged scalars stay strings.
func scalar(n *yaml.Node) (any, error) {
	s := n.Value
	explicit := n.Style&yaml.TaggedStyle != 0
	if explicit {
		switch n.Tag {
		case "!!str", "!!binary", "!unsafe":
			return s, nil
		case "!!null":
			return nil, nil
		case "!!int", "!!float", "!!bool":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return s, nil
	}
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil, nil
	case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true, nil
	case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false, nil
	}
	if yaml11Int.MatchString(s) {
		return yaml11ToInt(s)
	}
	if yaml11Float.MatchString(s) {
		return yaml11ToFloat(s), nil
	}
	return s, nil
}

// cutSign splits a leading + or - off a YAML 1.1 number: -1 or 1, and the
// rest.
func cutSign(v string) (int, string) {
	if v != "" && (v[0] == '-' || v[0] == '+') {
		if v[0] == '-' {
			return -1, v[1:]
		}
		return 1, v[1:]
	}
	return 1, v
}

func yaml11ToInt(s string) (any, error) {
	sign, v := cutSign(strings.ReplaceAll(s, "_", ""))
	var n int64
	var err error
	switch {
	case v == "0":
	case strings.HasPrefix(v, "0b"):
		n, err = strconv.ParseInt(v[2:], 2, 64)
	case strings.HasPrefix(v, "0x"):
		n, err = strconv.ParseInt(v[2:], 16, 64)
	case v[0] == '0':
		n, err = strconv.ParseInt(v[1:], 8, 64)
	case strings.Contains(v, ":"):
		for _, part := range strings.Split(v, ":") {
			d, _ := strconv.ParseInt(part, 10, 64)
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(v, 10, 64)
	}
	if err != nil {
		return s, nil // out of range: keep the text rather than lose it
	}
	return int(n) * sign, nil
}

func yaml11ToFloat(s string) float64 {
	v := strings.ReplaceAll(s, "_", "")
	switch strings.ToLower(strings.TrimLeft(v, "+-")) {
	case ".inf":
		if strings.HasPrefix(v, "-") {
			return math.Inf(-1)
		}
		return math.Inf(1)
	case ".nan":
		return math.NaN()
	}
	if strings.Contains(v, ":") {
		sign, v := cutSign(v)
		var f float64
		for _, part := range strings.Split(v, ":") {
			x, _ := strconv.ParseFloat(part, 64)
			f = f*60 + x
		}
		return float64(sign) * f
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}
