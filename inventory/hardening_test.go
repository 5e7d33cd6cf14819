package inventory

import (
	"fmt"
	"strings"
	"testing"
)

// Inputs that crashed, hung or exhausted memory before the parsers were
// bounded. Each must now end quickly with a clear error (or a result).

func TestYAMLRecursiveAliasIsAnError(t *testing.T) {
	for _, doc := range []string{
		"all:\n  vars:\n    x: &a [*a]\n",
		"all:\n  vars: &v\n    <<: *v\n",
		"all: &g\n  children:\n    sub: *g\n",
	} {
		_, err := parse("rec.yml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "recursive YAML alias") {
			t.Errorf("%q: want a recursive alias error, got %v", doc, err)
		}
	}
}

func TestYAMLAliasBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ { // 10^10 values if expanded
		fmt.Fprintf(&b, "    l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, err := parse("bomb.yml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand to more than") {
		t.Fatalf("want an expansion error, got %v", err)
	}
	_, err = ParseExtraVars([]string{"{" + strings.ReplaceAll(strings.TrimPrefix(b.String(), "all:\n  vars:\n"), "\n", ", ") + "}"})
	if err == nil {
		t.Fatalf("-e alias bomb: want an error")
	}
}

func TestMalformedGlobPatternIsAnError(t *testing.T) {
	inv, err := parse("p.ini", []byte("[web]\nw1\nw2\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv.merge()
	for _, p := range []string{"[z-a]", "web:[b-a]*"} {
		if _, err := inv.Match(p); err == nil || !strings.Contains(err.Error(), "invalid host pattern") {
			t.Errorf("%q: want an invalid pattern error, got %v", p, err)
		}
	}
}

func TestHugeHostRangeIsRefused(t *testing.T) {
	for _, line := range []string{"h[0:999999999]", "h[0:9999][0:9999]", "h[0:99][0:99][0:99]"} {
		_, err := parse("r.ini", []byte("[g]\n"+line+"\n"))
		if err == nil || !strings.Contains(err.Error(), "expands to more than 100000 hosts") {
			t.Errorf("%s: want a bounded-range error, got %v", line, err)
		}
	}
	inv, err := parse("r.ini", []byte("[g]\nh[00000:49999]\n"))
	if err != nil || len(inv.hostOrder) != 50000 {
		t.Fatalf("a big legitimate range must load: %v", err)
	}
}

// A ladder where every group has the two groups of the rung above as
// parents has 2^n paths to all: depth must not walk them all.
func TestGroupDepthLadderIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("[a0]\nhost1\n[b0]\nhost2\n")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&b, "[a%d:children]\na%d\nb%d\n[b%d:children]\na%d\nb%d\n", i, i-1, i-1, i, i-1, i-1)
	}
	inv, err := parse("ladder.ini", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	inv.merge()
	if len(inv.Hosts()) != 2 || len(inv.Hosts()[0].Groups) < 120 {
		t.Fatalf("hosts %v", inv.Hosts())
	}
}

func TestPyLiteralDeepNestingStaysAString(t *testing.T) {
	s := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if v := pyLiteral(s); v != s {
		t.Fatalf("deeply nested literal: got %T", v)
	}
}

// Parse errors name the file, line and host, never the value: the
// offending line is often a password with a blank or a stray quote.
func TestParseErrorsDoNotEchoValues(t *testing.T) {
	const pw = "Hunter2Secret"
	for _, doc := range []string{
		"[g]\nh1 ansible_password=" + pw + " " + pw + "x\n",
		"[g]\nh1 ansible_password='" + pw + "\n",
		"[g]\nh1\n[g:vars]\n" + pw + "\n",
	} {
		_, err := parse("p.ini", []byte(doc))
		if err == nil || strings.Contains(err.Error(), pw[:6]) {
			t.Errorf("%q: error %v", doc, err)
		}
	}
	_, err := parse("p.yml", []byte("all:\n  vars:\n    ansible_password: !!int "+pw+"\n"))
	if err == nil || strings.Contains(err.Error(), pw[:6]) {
		t.Errorf("yaml: error %v", err)
	}
	for _, arg := range []string{"ansible_password=" + pw + " " + pw + "x", "pw='" + pw, "[\"" + pw + "\"]"} {
		_, err := ParseExtraVars([]string{arg})
		if err == nil || strings.Contains(err.Error(), pw[:6]) {
			t.Errorf("-e %q: error %v", arg, err)
		}
	}
}
