package inventory

import (
	"errors"
	"fmt"
	"strings"
)

// ParseExtraVars parses -e arguments like ansible-playbook: "@file" reads
// a YAML or JSON file, an argument starting with "{" or "[" is inline
// YAML/JSON, anything else is space-separated key=value pairs whose
// values are strings (quotes around a value are removed). Later
// arguments override earlier ones.
func ParseExtraVars(args []string) (map[string]any, error) {
	return ParseExtraVarsWith(args, nil)
}

// ParseExtraVarsWith is ParseExtraVars with vault passwords: an @file may
// be vault-encrypted or hold !vault values.
func ParseExtraVarsWith(args []string, v *Vault) (map[string]any, error) {
	out := map[string]any{}
	for i, arg := range args {
		if arg == "" {
			continue
		}
		var data any
		switch {
		case arg[0] == '@':
			file := arg[1:]
			var err error
			if data, err = readVarsFile(file, v); err != nil {
				return nil, fmt.Errorf("extra vars: %v", err)
			}
		case arg[0] == '/' || arg[0] == '.':
			return nil, fmt.Errorf("extra vars: prepend the file name %q with '@'", arg)
		case arg[0] == '{' || arg[0] == '[':
			var err error
			if data, err = decodeYAMLValue("extra vars", []byte(arg), v); err != nil {
				return nil, err
			}
		default:
			kv, err := parseKV(arg)
			if err != nil {
				// The argument is not echoed: it may hold a password.
				return nil, fmt.Errorf("extra vars (-e number %d): %v", i+1, err)
			}
			data = kv
		}
		m, ok := data.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("extra vars (-e number %d): could not be made into a mapping (got %s)", i+1, typeName(data))
		}
		for k, v := range m {
			out[k] = v
		}
	}
	return out, nil
}

// ParseKV parses `k=v k2="a b"` words as Ansible's parse_kv does (values
// are strings); ad-hoc module arguments use it.
func ParseKV(s string) (map[string]any, error) { return parseKV(s) }

// parseKV is Ansible's parse_kv for -e: words split on blanks outside
// quotes, each "key=value" with the value unquoted. Ansible files words
// without "=" under _raw_params; for -e that is always a mistake, so it
// is an error here.
func parseKV(s string) (map[string]any, error) {
	words, err := splitArgs(s)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, w := range words {
		pos := -1
		for i := 1; i < len(w); i++ {
			if w[i] == '=' && w[i-1] != '\\' {
				pos = i
				break
			}
		}
		if pos < 0 {
			return nil, fmt.Errorf("expected key=value, got a word without '=' (quote values with blanks)")
		}
		k := strings.TrimSpace(w[:pos])
		out[k] = unquote(strings.TrimSpace(w[pos+1:]))
	}
	return out, nil
}

// splitArgs splits on unquoted whitespace and keeps the quotes.
func splitArgs(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	var quote byte
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(s) {
				cur.WriteByte(c)
				i++
				c = s[i]
			} else if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			cur.WriteByte(c)
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unbalanced quotes; try quoting the entire value")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
