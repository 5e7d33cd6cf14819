package shellwords

import (
	"reflect"
	"strings"
	"testing"
)

// The cases of the three splitters this package replaced (modules'
// splitCommandLine keeps its own in modules/command_test.go).

// Shlex: Ansible's ini host lines.
func TestShlexSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:                 {"a", "b", "c"},
		`k="a b" j='c d'`:        {"k=a b", "j=c d"},
		`k="a \"q\" \n"`:         {`k=a "q" \n`},
		`k='a\b'`:                {`k=a\b`},
		`a\ b`:                   {"a b"},
		`a # comment`:            {"a"},
		`a b#c d`:                {"a", "b"},
		`k=""`:                   {"k="},
		`""`:                     {""},
		`x="1"'2'3`:              {"x=123"},
		"tab\tsep":               {"tab", "sep"},
		`h ansible_host=1.2.3.4`: {"h", "ansible_host=1.2.3.4"},
	} {
		got, err := Shlex.Split(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Shlex.Split(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `'open`, `trailing\`} {
		if _, err := Shlex.Split(bad); err == nil {
			t.Errorf("Shlex.Split(%q): no error", bad)
		}
	}
}

// Fields: ssh arguments (runtime/connection).
func TestFieldsSSHArgs(t *testing.T) {
	got := Fields(`-o 'A=b c' -o"X=y" plain\ word "q\"uote"`)
	want := []string{"-o", "A=b c", "-oX=y", "plain word", `q"uote`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

// Fields: iptables-save rules (runtime/lab).
func TestFieldsIptablesRule(t *testing.T) {
	got := Fields(`FORWARD -m comment --comment "a b" -j SRLAB1`)
	want := []string{"FORWARD", "-m", "comment", "--comment", "a b", "-j", "SRLAB1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q", got)
	}
}

// What tells the dialects apart, each as the splitter it replaced read it.
func TestDialectsDiffer(t *testing.T) {
	for _, c := range []struct {
		d    Dialect
		in   string
		want []string
	}{
		{Sh, `"\$x \` + "`" + `" a\` + "\nb", []string{"$x `", "ab"}},
		{Shlex, `"\$x \` + "`" + `" a\` + "\nb", []string{`\$x ` + "\\`", "a\nb"}},
		{Sh, "a\rb #c", []string{"a\rb", "#c"}},
		{Shlex, "a\rb #c", []string{"a", "b"}},
		{forgiving, `"\$x" a\` + "\nb", []string{"$x", "a\nb"}},
		{forgiving, `-o 'A=b c`, []string{"-o", "A=b c"}},
		{forgiving, `-o "A=b c`, []string{"-o", "A=b c"}},
		{forgiving, `x\`, []string{`x\`}},
		{forgiving, "é 'ü'", []string{"é", "ü"}},
	} {
		got, err := c.d.Split(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		d       Dialect
		in, err string
	}{
		{Sh, `'x`, "unterminated single quote"}, {Sh, `"x`, "unterminated double quote"}, {Sh, `x\`, "trailing backslash"},
		{Shlex, `'x`, "no closing quotation"}, {Shlex, `"x`, "no closing quotation"}, {Shlex, `x\`, "no escaped character"},
	} {
		if _, err := c.d.Split(c.in); err == nil || err.Error() != c.err {
			t.Errorf("%q: error %v, want %q", c.in, err, c.err)
		}
	}
}
