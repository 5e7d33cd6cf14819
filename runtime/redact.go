package runtime

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/swarmrun/swarmrun/inventory"
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
	grams map[string]int  // minPiece-byte pieces of the forms -> run length that masks
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

// addGrams records f's pieces with the run length that masks them: half
// of f, at least minPiece. Pieces without a letter or digit ("------"
// of PEM armour) are left out.
func (r *Redactor) addGrams(f string) {
	// Copy on write: Redact reads the map without the lock.
	grams := make(map[string]int, len(r.grams)+len(f))
	for g, n := range r.grams {
		grams[g] = n
	}
	need := max(minPiece, len(f)/2)
	for i := 0; i+minPiece <= len(f); i++ {
		g := f[i : i+minPiece]
		if strings.IndexFunc(g, func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }) < 0 {
			continue
		}
		if n, ok := grams[g]; !ok || need < n {
			grams[g] = need
		}
	}
	r.grams = grams
}

// AddValue registers every string inside a module value.
func (r *Redactor) AddValue(v any) { inventory.EachString(v, r.Add) }

// Redact masks every registered secret in s, and pieces of one: a line
// that ends with a secret's head or starts with its tail (at least
// minPiece bytes: output cut at a limit), and, anywhere, a run of the
// secret's bytes at least half its length (a line split by a tool, an
// escape interpreted). Shorter pieces inside a line stay: a password
// holding "Password" must not mask that word in every message.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	rep, list, grams := r.rep, r.list, r.grams
	r.mu.RUnlock()
	if rep == nil || s == "" {
		return s
	}
	lines := strings.SplitAfter(rep.Replace(s), "\n")
	for i, line := range lines {
		lines[i] = maskCuts(maskRuns(line, grams), list)
	}
	return strings.Join(lines, "")
}

// maskRuns replaces each run of bytes covered by pieces of one secret
// (minPiece-byte windows in grams) with Mask when the run is at least
// as long as that secret needs.
func maskRuns(s string, grams map[string]int) string {
	if len(grams) == 0 || len(s) < minPiece {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is in b
	for i := 0; i+minPiece <= len(s); {
		need, ok := grams[s[i:i+minPiece]]
		if !ok {
			i++
			continue
		}
		end := i + minPiece
		for end < len(s) {
			n, ok := grams[s[end-minPiece+1:end+1]]
			if !ok {
				break
			}
			need = min(need, n)
			end++
		}
		if end-i >= need {
			b.WriteString(s[last:i])
			b.WriteString(Mask)
			last = end
		}
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// maskCuts masks a line that ends with a secret's head or starts with a
// secret's tail.
func maskCuts(line string, secrets []string) string {
	body := strings.TrimRight(line, "\r\n")
	nl := line[len(body):]
	for _, s := range secrets {
		if n := headAtEnd(body, s); n > 0 {
			body = body[:len(body)-n] + Mask
		}
		if n := headAtEnd(reverse(body), reverse(s)); n > 0 {
			body = Mask + body[n:]
		}
	}
	return body + nl
}

// headAtEnd returns the length of the longest proper prefix of s (at
// least minPiece bytes) that text ends with, or 0.
func headAtEnd(text, s string) int {
	for i := max(0, len(text)-len(s)+1); i <= len(text)-minPiece; i++ {
		if text[i] == s[0] && strings.HasPrefix(s, text[i:]) {
			return len(text) - i
		}
	}
	return 0
}

func reverse(s string) string {
	b := make([]byte, len(s))
	for i := range len(s) {
		b[len(s)-1-i] = s[i]
	}
	return string(b)
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
