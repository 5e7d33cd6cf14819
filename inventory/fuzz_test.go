package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets below run in CI for a few seconds each (make fuzz);
// their seed corpus is under testdata/fuzz/. Each one asserts only what
// must hold for any input: no panic, no endless loop, and bounded
// results (the limits are the parsers' own).

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzINI(f *testing.F)  { fuzzParse(f, "../testdata/inventory/*.ini", "fuzz.ini") }
func FuzzYAML(f *testing.F) { fuzzParse(f, "../testdata/inventory/*.y*ml", "fuzz.yml") }

// fuzzParse feeds the inventory files matching glob as seeds to the parser
// of the format that name's extension selects.
func fuzzParse(f *testing.F, glob, name string) {
	addFiles(f, glob)
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := parse(name, data)
		if err != nil {
			return
		}
		checkInventory(t, inv)
	})
}

func checkInventory(t *testing.T, inv *Inventory) {
	inv.merge()
	if n := len(inv.Hosts()); n > len(inv.hostOrder) {
		t.Fatalf("%d hosts merged from %d parsed", n, len(inv.hostOrder))
	}
	for _, p := range []string{"all", "ungrouped", "*", "all:!ungrouped", "all[0]"} {
		inv.Match(p) // may error (index out of range), must not panic
	}
}

func FuzzPattern(f *testing.F) {
	for _, p := range []string{"all", "web*:&db", "~w[0-9]+", "g[1:]", "g[-1]", "[z-a]", "a,,b", "!x", "&", "::1", "web[", "*[!]"} {
		f.Add(p)
	}
	inv, err := Load("../testdata/inventory/children.ini")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		hs, err := inv.Match(pattern)
		if err == nil && len(hs) > len(inv.Hosts()) {
			t.Fatalf("%q: %d hosts, inventory has %d", pattern, len(hs), len(inv.Hosts()))
		}
	})
}

func FuzzExtraVars(f *testing.F) {
	for _, s := range []string{"a=1 b='x y'", `{"a": [1, {"b": null}]}`, "[1,2]", "k=\"unbalanced", "{a: &x [*x]}", "=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if strings.HasPrefix(arg, "@") || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
			return // file names: not this target's business
		}
		ParseExtraVars([]string{arg})
	})
}

func FuzzPyLiteral(f *testing.F) {
	for _, s := range []string{"1", "-0x1F", "'a' \"b\"", "[1, (2,), {'k': None}]", "1e400", "b'\\x00'", "((((1))))", "u'\\N{DASH}'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pyLiteral(s)
	})
}
