// Package modules holds swarmrun's built-in modules, one per file. Each module
// declares its parameters (the schema that validates keyword arguments and
// generates `swarmrun doc`) and a Run function that observes a host, compares
// with the desired state and, unless in check mode, applies the difference.
// Modules never print; the runtime owns output, parallelism, retries,
// timeouts and redaction.
package modules

import (
	"context"
	"fmt"
	"slices"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// Type is a parameter's type, as the playbook writes it.
type Type string

const (
	String Type = "string"
	Int    Type = "int"
	Bool   Type = "bool"
	List   Type = "list"  // []any
	Dict   Type = "dict"  // map[string]any
	Any    Type = "any"   // anything a playbook can express
	Float  Type = "float" // float64; an int is accepted
)

// Param is one keyword argument of a module.
type Param struct {
	Name      string
	Type      Type
	Doc       string
	Default   any // nil: no default
	Required  bool
	Sensitive bool     // never printed: redacted from output, diffs, errors
	Choices   []string // for strings: the allowed values
}

// Module is a built-in module.
type Module struct {
	Name   string
	Doc    string // first line: a summary; the rest: details and an example
	Params []Param
	// Outputs names the values Run may return in Result.Outputs, with docs.
	Outputs map[string]string
	// SensitiveOutputs are outputs whose values are redacted wherever printed.
	SensitiveOutputs []string
	// Run performs the module on one host. An error fails the host's step.
	Run func(ctx context.Context, t *Target, p Params) (*Result, error)
}

// Target is what a module works on: one host of the step.
type Target struct {
	Name    string         // inventory name
	Address string         // address the connection uses (ansible_host or name)
	Vars    map[string]any // merged inventory variables
	Conn    connection.Conn
	Check   bool   // --check: observe and report, change nothing
	Diff    bool   // --diff: fill Result.Diff
	Become  bool   // commands and file writes through sudo
	Dir     string // the playbook's directory, for relative `src` files
	// Docker returns the host's Docker Engine API client over Conn, with
	// the step's become (Conn.Docker keeps it). Tests hand in a fake engine.
	Docker func(ctx context.Context) (client.APIClient, error)
	// Reconnect opens a new connection to the host (after a reboot) and
	// makes it the one later steps use.
	Reconnect func(ctx context.Context) (connection.Conn, error)
}

// Result is what a module reports for one host.
type Result struct {
	Changed bool
	Skipped bool
	Msg     string
	Diff    string
	Outputs map[string]any
	// Changes is the list of changes made (or, in check mode, that would
	// be), as the kit's gate reports them (modules/kit.go); nil for a
	// module that does not go through the gate yet.
	Changes []string
}

// Params holds validated keyword arguments with defaults applied. Values are
// string, int64, bool, float64, []any, map[string]any or nil.
type Params map[string]any

// Has reports whether the playbook gave a value (or the schema a default).
func (p Params) Has(name string) bool { v, ok := p[name]; return ok && v != nil }

// String returns a string parameter ("" when absent).
func (p Params) String(name string) string { s, _ := p[name].(string); return s }

// Int returns an int parameter (0 when absent).
func (p Params) Int(name string) int64 { i, _ := p[name].(int64); return i }

// Bool returns a bool parameter (false when absent).
func (p Params) Bool(name string) bool { b, _ := p[name].(bool); return b }

// List returns a list parameter.
func (p Params) List(name string) []any { l, _ := p[name].([]any); return l }

// Dict returns a dict parameter.
func (p Params) Dict(name string) map[string]any { m, _ := p[name].(map[string]any); return m }

// Strings returns a list parameter as strings; non-strings are formatted.
func (p Params) Strings(name string) []string {
	var out []string
	for _, v := range p.List(name) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

// WithDefaults returns given with the schema's defaults for the parameters
// it lacks; a name the schema does not know is an error. The runtime does
// the same per host (runtime/step.go); tests call a module's Run with it.
func (m *Module) WithDefaults(given Params) (Params, error) {
	p := Params{}
	for _, spec := range m.Params {
		if spec.Default != nil {
			p[spec.Name] = spec.Default
		}
	}
	for k, v := range given {
		if !slices.ContainsFunc(m.Params, func(s Param) bool { return s.Name == k }) {
			return nil, fmt.Errorf("%s has no parameter %s", m.Name, k)
		}
		p[k] = v
	}
	return p, nil
}
