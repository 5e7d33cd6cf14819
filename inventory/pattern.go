package inventory

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

var (
	patternWords     = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)
	patternSubscript = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)
)

// Match returns the hosts selected by an Ansible host pattern, in
// Ansible's order. A pattern that matches nothing yields an empty list;
// only a malformed pattern is an error.
//
// Patterns are separated by "," (or ":" when there is no comma); a term
// is a group or host name, a glob ("web*"), a regex ("~web\d+"), "all" or
// "*", optionally subscripted ("g[0]", "g[-1]", "g[1:]", "g[0:2]"
// inclusive) and prefixed with "&" (intersection) or "!" (exclusion).
// As in Ansible, plain terms are applied first, then "&", then "!".
func (inv *Inventory) Match(pattern string) ([]*Host, error) {
	terms := splitPattern(pattern)
	var regular, and, not []string
	for _, t := range terms {
		switch t[0] {
		case '&':
			and = append(and, t)
		case '!':
			not = append(not, t)
		default:
			regular = append(regular, t)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	var selected []*host
	for _, t := range regular {
		if h, ok := inv.hosts[t]; ok {
			selected = append(selected, h)
			continue
		}
		hs, err := inv.matchTerm(t)
		if err != nil {
			return nil, err
		}
		selected = append(selected, hs...)
	}
	for _, t := range append(and, not...) {
		hs, err := inv.matchTerm(t[1:])
		if err != nil {
			return nil, err
		}
		in := map[*host]bool{}
		for _, h := range hs {
			in[h] = true
		}
		keep := selected[:0:0]
		for _, h := range selected {
			if in[h] == (t[0] == '&') {
				keep = append(keep, h)
			}
		}
		selected = keep
	}
	out := []*Host{}
	seen := map[*host]bool{}
	for _, h := range selected {
		if !seen[h] {
			seen[h] = true
			out = append(out, inv.merged[h.name])
		}
	}
	return out, nil
}

// splitPattern is Ansible's split_host_pattern.
func splitPattern(pattern string) []string {
	var parts []string
	switch {
	case strings.Contains(pattern, ","):
		parts = strings.Split(pattern, ",")
	case net.ParseIP(strings.TrimSpace(pattern)) != nil:
		// An IPv6 address is one term, not a ":"-separated list.
		parts = []string{pattern}
	default:
		parts = patternWords.FindAllString(pattern, -1)
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// matchTerm resolves one term without its &/! prefix.
func (inv *Inventory) matchTerm(term string) ([]*host, error) {
	if term == "" {
		return nil, fmt.Errorf("invalid host pattern: empty term after '&' or '!'")
	}
	expr, start, end, hasSub := term, 0, 0, false
	if term[0] != '~' {
		if m := patternSubscript.FindStringSubmatch(term); m != nil {
			expr, hasSub = m[1], true
			if m[2] != "" {
				start, _ = strconv.Atoi(m[2])
				end = 0
			} else {
				start, _ = strconv.Atoi(m[3])
				end = -1
				if m[5] != "" {
					end, _ = strconv.Atoi(m[5])
				}
			}
		}
	}
	re, err := compileTerm(expr)
	if err != nil {
		return nil, err
	}
	// Groups first (in creation order), then hosts if no group matched
	// or the term is a glob or regex.
	var out []*host
	matchedGroup := false
	for _, g := range inv.groupOrder {
		if re.MatchString(g.name) {
			matchedGroup = true
			out = append(out, g.descendantHosts()...)
		}
	}
	if !matchedGroup || expr[0] == '~' || strings.ContainsAny(expr, ".?*[") {
		for _, h := range inv.hostOrder {
			if re.MatchString(h.name) {
				out = append(out, h)
			}
		}
	}
	if !hasSub || len(out) == 0 {
		return out, nil
	}
	if end == 0 {
		// A single index; Ansible's "x[0:0]" also lands here.
		i := start
		if i < 0 {
			i += len(out)
		}
		if i < 0 || i >= len(out) {
			return nil, fmt.Errorf("no hosts matched the subscripted pattern %q: index out of range (%d hosts)", term, len(out))
		}
		return out[i : i+1], nil
	}
	if end == -1 {
		end = len(out) - 1
	}
	hi := min(end+1, len(out))
	if start >= hi {
		return nil, nil // like Python, an empty slice is not an error
	}
	return out[start:hi], nil
}

// compileTerm turns a term into an anchored regexp: "~re" is a Python-style
// re.match (anchored at the start only), anything else an fnmatch glob.
func compileTerm(expr string) (*regexp.Regexp, error) {
	if expr[0] == '~' {
		re, err := regexp.Compile(`^(?:` + expr[1:] + `)`)
		if err != nil {
			return nil, fmt.Errorf("invalid host pattern %q: %v", expr, err)
		}
		return re, nil
	}
	// A glob can still make an invalid regexp ("[z-a]"): an error, not a panic.
	re, err := regexp.Compile(globToRegexp(expr))
	if err != nil {
		return nil, fmt.Errorf("invalid host pattern %q: %v", expr, err)
	}
	return re, nil
}

// globToRegexp is Python's fnmatch.translate: * ? [seq] [!seq].
func globToRegexp(glob string) string {
	var sb strings.Builder
	sb.WriteString(`^(?s:`)
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '*':
			sb.WriteString(`.*`)
		case '?':
			sb.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(glob) && glob[j] == '!' {
				j++
			}
			if j < len(glob) && glob[j] == ']' {
				j++
			}
			for j < len(glob) && glob[j] != ']' {
				j++
			}
			if j >= len(glob) {
				sb.WriteString(`\[`)
				continue
			}
			set := glob[i+1 : j]
			i = j
			neg := strings.HasPrefix(set, "!")
			if neg {
				set = set[1:]
			}
			sb.WriteByte('[')
			if neg {
				sb.WriteByte('^')
			}
			for _, r := range set {
				if r == '\\' || r == '[' || r == ']' || r == '^' {
					sb.WriteByte('\\')
				}
				sb.WriteRune(r)
			}
			sb.WriteByte(']')
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	sb.WriteString(`)$`)
	return sb.String()
}
