package inventory

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// pyLiteral evaluates s the way Ansible's INI plugin does with Python's
// ast.literal_eval: numbers, strings, True/False/None, lists, tuples and
// dicts become typed values. Anything literal_eval rejects stays the
// original string, so the result is never an error.
func pyLiteral(s string) any {
	p := &pyParser{src: strings.TrimLeft(s, " \t")}
	v, err := p.parseTop()
	if err != nil {
		return s
	}
	return v
}

var errNotLiteral = errors.New("not a python literal")

type pyParser struct {
	src   string
	pos   int
	depth int // open brackets: bounded like CPython's parser (200)
}

const maxPyDepth = 200

func (p *pyParser) parseTop() (any, error) {
	p.skipSpace(false)
	if p.eof() {
		return nil, errNotLiteral // literal_eval("") is a SyntaxError
	}
	v, err := p.parseExpr(false)
	if err != nil {
		return nil, err
	}
	p.skipSpace(false)
	if !p.eof() && p.src[p.pos] == ',' {
		// A bare tuple: "1, 2".
		items := []any{v}
		for !p.eof() && p.src[p.pos] == ',' {
			p.pos++
			p.skipSpace(false)
			if p.eof() {
				break
			}
			v, err := p.parseExpr(false)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
			p.skipSpace(false)
		}
		v = items
	}
	if !p.eof() {
		return nil, errNotLiteral
	}
	return v, nil
}

func (p *pyParser) eof() bool { return p.pos >= len(p.src) }

// skipSpace skips blanks and comments; newlines only inside brackets,
// where Python joins lines implicitly.
func (p *pyParser) skipSpace(nested bool) {
	for !p.eof() {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\f':
			p.pos++
		case c == '#':
			for !p.eof() && p.src[p.pos] != '\n' {
				p.pos++
			}
		case (c == '\n' || c == '\r') && nested:
			p.pos++
		case c == '\\' && strings.HasPrefix(p.src[p.pos:], "\\\n"):
			p.pos += 2
		default:
			return
		}
	}
}

func (p *pyParser) parseExpr(nested bool) (any, error) {
	if p.depth++; p.depth > maxPyDepth {
		return nil, errNotLiteral
	}
	defer func() { p.depth-- }()
	p.skipSpace(nested)
	if p.eof() {
		return nil, errNotLiteral
	}
	c := p.src[p.pos]
	switch {
	case c == '+' || c == '-':
		p.pos++
		return p.parseSigned(c == '-', nested)
	case c == '[':
		p.pos++
		items, err := p.parseSeq(']')
		if err != nil {
			return nil, err
		}
		return items, nil
	case c == '(':
		p.pos++
		start := p.pos
		items, err := p.parseSeq(')')
		if err != nil {
			return nil, err
		}
		// "(x)" is x, "(x,)" is a tuple.
		if len(items) == 1 && !strings.Contains(strings.TrimSpace(p.src[start:p.pos-1]), ",") {
			return items[0], nil
		}
		return items, nil
	case c == '{':
		p.pos++
		return p.parseDict()
	case c == '.' || (c >= '0' && c <= '9'):
		return p.parseNumber()
	case c == '\'' || c == '"':
		return p.parseStrings(nested)
	case isIdentStart(rune(c)):
		return p.parseWord(nested)
	}
	return nil, errNotLiteral
}

// parseSigned reads the number after a sign: literal_eval allows one
// sign, directly on a number.
func (p *pyParser) parseSigned(minus, nested bool) (any, error) {
	p.skipSpace(nested)
	if p.eof() || !(p.src[p.pos] == '.' || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
		return nil, errNotLiteral
	}
	v, err := p.parseNumber()
	if err != nil {
		return nil, err
	}
	switch n := v.(type) {
	case int:
		if minus {
			return -n, nil
		}
		return n, nil
	case float64:
		if minus {
			return -n, nil
		}
		return n, nil
	}
	return nil, errNotLiteral
}

// parseWord reads True, False, None, or a prefixed string (b”, r”).
func (p *pyParser) parseWord(nested bool) (any, error) {
	start := p.pos
	for !p.eof() && isIdentChar(rune(p.src[p.pos])) {
		p.pos++
	}
	word := p.src[start:p.pos]
	if !p.eof() && (p.src[p.pos] == '\'' || p.src[p.pos] == '"') {
		p.pos = start
		return p.parseStrings(nested)
	}
	switch word {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	return nil, errNotLiteral
}

func (p *pyParser) parseSeq(end byte) ([]any, error) {
	items := []any{}
	err := p.items(end, func() error {
		v, err := p.parseExpr(true)
		items = append(items, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

func (p *pyParser) parseDict() (any, error) {
	m := map[string]any{}
	err := p.items('}', func() error {
		k, err := p.parseExpr(true)
		if err != nil {
			return err
		}
		p.skipSpace(true)
		if p.eof() || p.src[p.pos] != ':' {
			return errNotLiteral // sets are not supported
		}
		p.pos++
		v, err := p.parseExpr(true)
		if err != nil {
			return err
		}
		key, ok := jsonKey(k)
		if !ok {
			return errNotLiteral
		}
		m[key] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// items parses "item, item, ... end" (a trailing comma allowed), item
// reading one item; the opening bracket is already taken.
func (p *pyParser) items(end byte, item func() error) error {
	for {
		p.skipSpace(true)
		if p.eof() {
			return errNotLiteral
		}
		if p.src[p.pos] == end {
			p.pos++
			return nil
		}
		if err := item(); err != nil {
			return err
		}
		p.skipSpace(true)
		if p.eof() {
			return errNotLiteral
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case end:
		default:
			return errNotLiteral
		}
	}
}

// jsonKey renders a dict key the way Python's json module does.
func jsonKey(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(k), true
	case nil:
		return "null", true
	}
	return "", false
}

func (p *pyParser) parseNumber() (any, error) {
	start := p.pos
	for !p.eof() {
		c := p.src[p.pos]
		if isIdentChar(rune(c)) || c == '.' {
			p.pos++
			continue
		}
		// Exponent sign: 1e-5.
		if (c == '+' || c == '-') && p.pos > start && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E') &&
			!strings.HasPrefix(strings.ToLower(p.src[start:]), "0x") {
			p.pos++
			continue
		}
		break
	}
	lit := p.src[start:p.pos]
	if strings.Contains(lit, "__") || strings.HasSuffix(lit, "_") {
		return nil, errNotLiteral
	}
	clean := strings.ReplaceAll(lit, "_", "")
	lower := strings.ToLower(clean)
	if len(lower) > 1 && lower[0] == '0' && strings.ContainsAny(lower[1:2], "xob") {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[lower[1]]
		digits := strings.TrimPrefix(lit[2:], "_")
		if digits == "" || strings.HasPrefix(digits, "_") {
			return nil, errNotLiteral
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(digits, "_", ""), base, 64)
		if err != nil {
			return nil, errNotLiteral
		}
		return int(n), nil
	}
	if strings.ContainsAny(lower, ".e") {
		if strings.Contains(lit, "_.") || strings.Contains(lit, "._") || strings.HasPrefix(lit, "_") {
			return nil, errNotLiteral
		}
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errNotLiteral
		}
		return f, nil
	}
	for _, c := range clean {
		if c < '0' || c > '9' {
			return nil, errNotLiteral
		}
	}
	// Python 3 rejects leading zeros in decimal integers ("0123").
	if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return nil, errNotLiteral
	}
	n, err := strconv.ParseInt(clean, 10, 64)
	if err != nil {
		return nil, errNotLiteral
	}
	return int(n), nil
}

// parseStrings parses one or more adjacent string literals, which
// Python concatenates.
func (p *pyParser) parseStrings(nested bool) (any, error) {
	var sb strings.Builder
	n := 0
	for {
		p.skipSpace(nested)
		if p.eof() {
			break
		}
		start := p.pos
		for !p.eof() && isIdentChar(rune(p.src[p.pos])) {
			p.pos++
		}
		prefix := strings.ToLower(p.src[start:p.pos])
		if p.eof() || (p.src[p.pos] != '\'' && p.src[p.pos] != '"') {
			p.pos = start
			break
		}
		switch prefix {
		case "", "r", "u", "b", "br", "rb":
		default:
			return nil, errNotLiteral // f-strings and the like
		}
		s, err := p.parseString(strings.Contains(prefix, "r"))
		if err != nil {
			return nil, err
		}
		sb.WriteString(s)
		n++
	}
	if n == 0 {
		return nil, errNotLiteral
	}
	return sb.String(), nil
}

func (p *pyParser) parseString(raw bool) (string, error) {
	q := p.src[p.pos : p.pos+1]
	if strings.HasPrefix(p.src[p.pos:], q+q+q) {
		q = q + q + q
	}
	p.pos += len(q)
	var sb strings.Builder
	for {
		if p.eof() {
			return "", errNotLiteral
		}
		if strings.HasPrefix(p.src[p.pos:], q) {
			p.pos += len(q)
			return sb.String(), nil
		}
		c := p.src[p.pos]
		if c == '\n' && len(q) == 1 {
			return "", errNotLiteral
		}
		if c != '\\' {
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			sb.WriteRune(r)
			p.pos += size
			continue
		}
		if p.pos+1 >= len(p.src) {
			return "", errNotLiteral
		}
		e := p.src[p.pos+1]
		if raw {
			sb.WriteByte('\\')
			sb.WriteByte(e)
			p.pos += 2
			continue
		}
		p.pos += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			sb.WriteByte(e)
		case 'a':
			sb.WriteByte('\a')
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'v':
			sb.WriteByte('\v')
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.pos+width > len(p.src) {
				return "", errNotLiteral
			}
			n, err := strconv.ParseUint(p.src[p.pos:p.pos+width], 16, 32)
			if err != nil || n > utf8.MaxRune {
				return "", errNotLiteral
			}
			sb.WriteRune(rune(n))
			p.pos += width
		case '0', '1', '2', '3', '4', '5', '6', '7':
			end := p.pos - 1
			for end < len(p.src) && end < p.pos+2 && p.src[end] >= '0' && p.src[end] <= '7' {
				end++
			}
			n, _ := strconv.ParseUint(p.src[p.pos-1:end], 8, 32)
			sb.WriteRune(rune(n))
			p.pos = end
		default:
			// Python keeps unknown escapes verbatim.
			sb.WriteByte('\\')
			sb.WriteByte(e)
		}
	}
}

func isIdentStart(r rune) bool {
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= utf8.RuneSelf
}

func isIdentChar(r rune) bool { return isIdentStart(r) || (r >= '0' && r <= '9') }
