package runtime

import (
	"sort"
	"strings"
	"sync"
)

// Redactor replaces every known secret value in text with a mask. Values
// are registered as they appear: sensitive module arguments, sensitive
// module outputs, env() values.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
	rep     *strings.Replacer
}

// Mask is what a secret looks like in output.
const Mask = "********"

// NewRedactor returns an empty redactor.
func NewRedactor() *Redactor { return &Redactor{} }

// Add registers a secret. Very short values are ignored: masking "1" or
// "on" everywhere would garble output without protecting anything.
func (r *Redactor) Add(secret string) {
	secret = strings.TrimSpace(secret)
	if len(secret) < 4 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if s == secret {
			return
		}
	}
	r.secrets = append(r.secrets, secret)
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	pairs := make([]string, 0, 2*len(r.secrets))
	for _, s := range r.secrets {
		pairs = append(pairs, s, Mask)
	}
	r.rep = strings.NewReplacer(pairs...)
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

// Redact masks every registered secret in s.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	rep := r.rep
	r.mu.RUnlock()
	if rep == nil || s == "" {
		return s
	}
	return rep.Replace(s)
}
