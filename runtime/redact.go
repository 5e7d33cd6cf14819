package runtime

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

// Redactor replaces every known secret value in text with a mask. Values
// are registered as they appear: sensitive module arguments, sensitive
// module outputs, env() values, inventory passwords. It is the one
// redaction path: everything printed (messages, diffs, task titles,
// errors, JSON events) goes through Redact.
//
// A secret rarely appears verbatim: a PEM key is shown line by line in a
// diff, a stack diff shows it JSON-escaped, a command line shell-quoted,
// an error tail cut in the middle. Each registered secret therefore
// brings its transformed forms, and text that ends (or starts) with a
// piece of one at a cut is masked too.
type Redactor struct {
	mu    sync.RWMutex
	forms map[string]bool // every form of every secret
	list  []string        // forms, longest first
	grams map[string]bool // every minPiece-byte piece of every form
	rep   *strings.Replacer
}

// Mask is what a secret looks like in output.
const Mask = "********"

// minSecret is the shortest value registered: masking "1" or "on"
// everywhere would garble output without protecting anything.
const minSecret = 4

// minPiece is the shortest piece of a secret masked wherever it appears.
const minPiece = 6

// NewRedactor returns an empty redactor.
func NewRedactor() *Redactor { return &Redactor{forms: map[string]bool{}} }

// secretForms returns the ways a secret can appear in output.
func secretForms(secret string) []string {
	forms := []string{secret}
	if j, err := json.Marshal(secret); err == nil {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	forms = append(forms, strings.Trim(strconv.Quote(secret), `"`), connection.ShellQuote(secret))
	if q := connection.ShellQuote(secret); len(q) > 2 && q[0] == '\'' {
		forms = append(forms, q[1:len(q)-1])
	}
	if e := echoForm(secret); e != secret {
		forms = append(forms, e)
	}
	if strings.ContainsAny(secret, "\r\n") {
		for _, line := range strings.FieldsFunc(secret, func(r rune) bool { return r == '\n' || r == '\r' }) {
			forms = append(forms, strings.TrimSpace(line))
		}
	}
	return forms
}

// echoForm is s as dash's echo (and printf's format) prints it: with its
// backslash escapes interpreted.
func echoForm(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\a`, "\a", `\b`, "\b", `\e`, "\x1b", `\f`, "\f",
		`\n`, "\n", `\r`, "\r", `\t`, "\t", `\v`, "\v").Replace(s)
}

// Add registers a secret and its transformed forms.
func (r *Redactor) Add(secret string) {
	secret = strings.TrimSpace(secret)
	if len(secret) < minSecret {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forms == nil {
		r.forms = map[string]bool{}
	}
	added := false
	for _, f := range secretForms(secret) {
		if len(f) >= minSecret && !r.forms[f] {
			r.forms[f] = true
			r.list = append(r.list, f)
			added = true
			r.addGrams(f)
		}
	}
	if !added {
		return
	}
	// Longest first, so a secret containing another is masked whole.
	sort.SliceStable(r.list, func(i, j int) bool { return len(r.list[i]) > len(r.list[j]) })
	pairs := make([]string, 0, 2*len(r.list))
	for _, s := range r.list {
		pairs = append(pairs, s, Mask)
	}
	r.rep = strings.NewReplacer(pairs...)
}

// addGrams records f's pieces; pieces without a letter or digit
// ("------" of PEM armour) would mask ordinary punctuation everywhere.
func (r *Redactor) addGrams(f string) {
	// Copy on write: Redact reads the map without the lock.
	grams := make(map[string]bool, len(r.grams)+len(f))
	for g := range r.grams {
		grams[g] = true
	}
	r.grams = grams
	for i := 0; i+minPiece <= len(f); i++ {
		g := f[i : i+minPiece]
		if strings.IndexFunc(g, func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }) >= 0 {
			r.grams[g] = true
		}
	}
}

// AddValue registers every string inside a module value.
func (r *Redactor) AddValue(v any) {
	switch v := v.(type) {
	case string:
		r.Add(v)
	case []any:
		for _, x := range v {
			r.AddValue(x)
		}
	case map[string]any:
		for _, x := range v {
			r.AddValue(x)
		}
	}
}

// Redact masks every registered secret in s, and every piece of one of
// at least minPiece bytes wherever it is: output cut at a limit, a line
// split by a tool, or an escape interpreted (echo turns "\\b" into a
// backspace) leave pieces that exact matching misses.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	rep, grams := r.rep, r.grams
	r.mu.RUnlock()
	if rep == nil || s == "" {
		return s
	}
	return maskPieces(rep.Replace(s), grams)
}

// maskPieces replaces every run of bytes covered by a minPiece-byte window
// found in grams with one Mask.
func maskPieces(s string, grams map[string]bool) string {
	if len(grams) == 0 || len(s) < minPiece {
		return s
	}
	covered := make([]bool, len(s))
	hit := false
	for i := 0; i+minPiece <= len(s); i++ {
		if grams[s[i:i+minPiece]] {
			for j := i; j < i+minPiece; j++ {
				covered[j] = true
			}
			hit = true
		}
	}
	if !hit {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !covered[i] {
			b.WriteByte(s[i])
			continue
		}
		b.WriteString(Mask)
		for i+1 < len(s) && covered[i+1] {
			i++
		}
	}
	return b.String()
}

// Holds reports whether a module value contains a registered secret:
// such a step shows no content in its diff.
func (r *Redactor) Holds(v any) bool {
	switch v := v.(type) {
	case string:
		return r.Redact(v) != v
	case []any:
		for _, x := range v {
			if r.Holds(x) {
				return true
			}
		}
	case map[string]any:
		for _, x := range v {
			if r.Holds(x) {
				return true
			}
		}
	}
	return false
}
