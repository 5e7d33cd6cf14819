package inventory

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/shellwords"
)

var (
	iniSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

type pendingDecl struct {
	line    int
	state   string
	parents []string
}

// parseINI follows Ansible's ini inventory plugin line by line: lines
// before any section belong to ungrouped, [g:children] may name groups
// declared later, and [g:vars] needs g declared somewhere.
func (inv *Inventory) parseINI(data []byte) error {
	lines := strings.Split(strings.ReplaceAll(string(trimBOM(data)), "\r\n", "\n"), "\n")
	p := &iniParser{inv: inv, group: "ungrouped", state: "hosts", pending: map[string]*pendingDecl{}}
	for i, line := range lines {
		lineno := i + 1
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		var err error
		if m := iniSection.FindStringSubmatch(line); m != nil {
			err = p.section(lineno, m)
		} else if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			err = fmt.Errorf("invalid section entry: %q; make sure there are no spaces or other invalid characters in the section entry", line)
		} else {
			err = p.entry(lineno, line)
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", inv.path, lineno, err)
		}
	}
	return p.unresolved()
}

// iniParser is parseINI's state: the current section and the groups
// named before they are declared.
type iniParser struct {
	inv          *Inventory
	group, state string // the current section: [group:state]
	pending      map[string]*pendingDecl
	pendingOrder []string
}

func (p *iniParser) addPending(name string, d *pendingDecl) {
	p.pending[name] = d
	p.pendingOrder = append(p.pendingOrder, name)
}

// section starts [m[1]:m[2]].
func (p *iniParser) section(lineno int, m []string) error {
	// Names like "web-servers" are kept as they are: Ansible only
	// warns about them (TRANSFORM_INVALID_GROUP_CHARS=never).
	p.group, p.state = m[1], m[2]
	if p.state == "" {
		p.state = "hosts"
	}
	if p.state != "hosts" && p.state != "children" && p.state != "vars" {
		return fmt.Errorf("section [%s:%s] has unknown type: %s", m[1], m[2], p.state)
	}
	if _, ok := p.inv.groups[p.group]; !ok {
		if _, ok := p.pending[p.group]; p.state == "vars" && !ok {
			p.addPending(p.group, &pendingDecl{line: lineno, state: p.state})
		}
		p.inv.addGroup(p.group)
	}
	if d, ok := p.pending[p.group]; ok && p.state != "vars" {
		if d.state == "children" {
			return p.inv.addPendingChildren(p.group, p.pending)
		}
		delete(p.pending, p.group)
	}
	return nil
}

// entry reads a line of the current section.
func (p *iniParser) entry(lineno int, line string) error {
	inv, groupname := p.inv, p.group
	switch p.state {
	case "hosts":
		names, port, vars, err := parseHostLine(line)
		if err != nil {
			return err
		}
		for _, name := range names {
			h := inv.addHost(name, inv.groups[groupname], port)
			for _, kv := range vars {
				h.vars[kv.k] = kv.v
			}
		}
	case "vars":
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			// The line is not shown: it may be a mistyped password.
			return fmt.Errorf("expected key=value in [%s:vars]", groupname)
		}
		return inv.groups[groupname].setVar(strings.TrimSpace(k), pyLiteral(strings.TrimSpace(v)))
	case "children":
		m := iniGroupName.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("expected group name, got: %s", line)
		}
		child := m[1]
		if c, ok := inv.groups[child]; ok {
			return inv.addChild(inv.groups[groupname], c)
		} else if d, ok := p.pending[child]; ok {
			d.parents = append(d.parents, groupname)
		} else {
			p.addPending(child, &pendingDecl{line: lineno, state: "children", parents: []string{groupname}})
		}
	}
	return nil
}

// unresolved reports the first group still undeclared, as Ansible does.
func (p *iniParser) unresolved() error {
	for _, name := range p.pendingOrder {
		d, ok := p.pending[name]
		if !ok {
			continue
		}
		if d.state == "vars" {
			return fmt.Errorf("%s:%d: section [%s:vars] not valid for undefined group: %s", p.inv.path, d.line, name, name)
		}
		return fmt.Errorf("%s:%d: section [%s:children] includes undefined group: %s", p.inv.path, d.line, d.parents[len(d.parents)-1], name)
	}
	return nil
}

func (inv *Inventory) addPendingChildren(name string, pending map[string]*pendingDecl) error {
	d := pending[name]
	for _, parent := range d.parents {
		if err := inv.addChild(inv.addGroup(parent), inv.groups[name]); err != nil {
			return err
		}
		if pd, ok := pending[parent]; ok && pd.state == "children" {
			if err := inv.addPendingChildren(parent, pending); err != nil {
				return err
			}
		}
	}
	delete(pending, name)
	return nil
}

type keyValue struct {
	k string
	v any
}

// parseHostLine splits "name[:port] k=v ..." like Ansible: shell-style
// words (quotes removed, # starts a comment), then each value goes
// through Python literal evaluation, so k="1" yields the integer 1.
func parseHostLine(line string) (names []string, port int, vars []keyValue, err error) {
	words, err := shellwords.Shlex.Split(line)
	if err != nil {
		// Only the host name is shown: the rest may hold a password.
		return nil, 0, nil, fmt.Errorf("error parsing host definition of %s: %v", firstWord(line), err)
	}
	if len(words) == 0 {
		return nil, 0, nil, nil
	}
	names, port, err = expandHostPattern(words[0])
	if err != nil {
		return nil, 0, nil, err
	}
	if strings.HasSuffix(strings.TrimSpace(words[0]), ":") && port == 0 {
		return nil, 0, nil, fmt.Errorf("invalid host pattern %q: a trailing ':' is reserved for a port", words[0])
	}
	for _, n := range names {
		if strings.TrimSpace(n) == "---" {
			return nil, 0, nil, fmt.Errorf("invalid host pattern %q: '---' is normally a sign this is a YAML file", words[0])
		}
	}
	for i, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			// Not shown: a stray word is usually the rest of an unquoted
			// value with a blank, a password as likely as not.
			return nil, 0, nil, fmt.Errorf("host %s: expected key=value host variable assignment (word %d after the name has no '='; quote values with blanks)", words[0], i+1)
		}
		vars = append(vars, keyValue{k, pyLiteral(v)})
	}
	return names, port, vars, nil
}

var (
	bracketedHostPort = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	hostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)
	rangeExpr         = regexp.MustCompile(`\[(?:[0-9a-fA-F]+:[0-9a-fA-F]+|[a-zA-Z]:[a-zA-Z])(?::[0-9]+)?\]`)
	hostLabel         = regexp.MustCompile(`^[\p{L}\p{N}_][\p{L}\p{N}_-]*$`)
)

// expandHostPattern splits an optional port off a host entry and expands
// its [a:b(:step)] ranges.
func expandHostPattern(pattern string) ([]string, int, error) {
	name, port := pattern, 0
	if n, p, ok := splitHostPort(pattern); ok {
		name, port = n, p
	}
	if !strings.Contains(name, "[") {
		return []string{name}, port, nil
	}
	names, err := expandRange(name, maxRangeHosts)
	return names, port, err
}

// maxRangeHosts bounds what one host entry may expand to: "h[0:999999999]"
// is a typo, not a fleet, and would otherwise loop and allocate for minutes.
const maxRangeHosts = 100000

// splitHostPort is Ansible's parse_address: it separates host and port
// only if what remains is a valid hostname, IPv4 or IPv6 address.
func splitHostPort(s string) (string, int, bool) {
	host, port := s, 0
	for _, re := range []*regexp.Regexp{bracketedHostPort, hostPort} {
		if m := re.FindStringSubmatch(host); m != nil {
			n, err := strconv.Atoi(m[2])
			if err != nil {
				return "", 0, false
			}
			host, port = m[1], n
		}
	}
	if !validAddress(host) {
		return "", 0, false
	}
	return host, port, true
}

func validAddress(s string) bool {
	plain := rangeExpr.ReplaceAllString(s, "0")
	if net.ParseIP(plain) != nil {
		return true
	}
	for _, label := range strings.Split(plain, ".") {
		if !hostLabel.MatchString(label) || strings.HasSuffix(label, "-") || strings.HasSuffix(label, "_") {
			return false
		}
	}
	return true
}

const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandRange expands the first [beg:end(:step)] in s, recursively, like
// Ansible's expand_hostname_range. Leading zeros fix the width. It
// refuses to make more than limit names.
func expandRange(s string, limit int) ([]string, error) {
	open := strings.IndexByte(s, '[')
	rest := s[open+1:]
	closeIdx := strings.IndexByte(rest, ']')
	if closeIdx < 0 || strings.IndexByte(s[:open], ']') >= 0 {
		return nil, fmt.Errorf("bad host range in %q: unbalanced brackets", s)
	}
	head, spec, tail := s[:open], rest[:closeIdx], rest[closeIdx+1:]
	if strings.Contains(spec, "[") {
		return nil, fmt.Errorf("bad host range in %q: unbalanced brackets", s)
	}
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("bad host range [%s] in %q: must be begin:end or begin:end:step", spec, s)
	}
	beg, end, step := bounds[0], bounds[1], 1
	if len(bounds) == 3 {
		n, err := strconv.Atoi(bounds[2])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad host range [%s] in %q: step must be a positive integer", spec, s)
		}
		step = n
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("bad host range [%s] in %q: must specify end value", spec, s)
	}
	var seq []string
	bi, ei := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	if len(beg) == 1 && len(end) == 1 && bi >= 0 && ei >= 0 {
		if bi > ei {
			return nil, fmt.Errorf("bad host range [%s] in %q: begin must be <= end", spec, s)
		}
		if (ei-bi)/step >= limit {
			return nil, tooManyHosts(s)
		}
		for i := bi; i <= ei; i += step {
			seq = append(seq, asciiLetters[i:i+1])
		}
	} else {
		width := 0
		if beg[0] == '0' && len(beg) > 1 {
			if len(beg) != len(end) {
				return nil, fmt.Errorf("bad host range [%s] in %q: begin and end must have equal length", spec, s)
			}
			width = len(beg)
		}
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(end)
		if err1 != nil || err2 != nil || b < 0 {
			return nil, fmt.Errorf("bad host range [%s] in %q: bounds must be numbers or single letters", spec, s)
		}
		if b > e {
			return nil, fmt.Errorf("bad host range [%s] in %q: begin must be <= end", spec, s)
		}
		if (e-b)/step >= limit {
			return nil, tooManyHosts(s)
		}
		for i := b; i <= e; i += step {
			seq = append(seq, fmt.Sprintf("%0*d", width, i))
		}
	}
	var out []string
	for _, x := range seq {
		name := head + x + tail
		if strings.Contains(name, "[") {
			more, err := expandRange(name, limit/len(seq))
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		} else {
			out = append(out, name)
		}
	}
	return out, nil
}

func tooManyHosts(s string) error {
	return fmt.Errorf("bad host range in %q: expands to more than %d hosts", s, maxRangeHosts)
}

func firstWord(line string) string {
	if f := strings.Fields(line); len(f) > 0 {
		return f[0]
	}
	return ""
}
