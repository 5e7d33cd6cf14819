package modules

import (
	"reflect"
	"testing"
)

func TestSplitCommandLine(t *testing.T) {
	cases := map[string][]string{
		`ls -l /tmp`:                     {"ls", "-l", "/tmp"},
		"  a\t b \n c ":                  {"a", "b", "c"},
		`echo 'a b' "c d"`:               {"echo", "a b", "c d"},
		`echo 'it'\''s'`:                 {"echo", "it's"},
		`echo "a \"q\" \$HOME \\ \x"`:    {"echo", `a "q" $HOME \ \x`},
		`echo a\ b`:                      {"echo", "a b"},
		`echo ''`:                        {"echo", ""},
		`echo x""y`:                      {"echo", "xy"},
		`echo $HOME *.go | grep x; true`: {"echo", "$HOME", "*.go", "|", "grep", "x;", "true"},
		"a \\\nb":                        {"a", "b"},
		"":                               nil,
	}
	for in, want := range cases {
		got, err := splitCommandLine(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitCommandLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`echo 'x`, `echo "x`, `echo x\`} {
		if _, err := splitCommandLine(bad); err == nil {
			t.Errorf("splitCommandLine(%q): want an error", bad)
		}
	}
}

func TestQuoteArgvRoundTrip(t *testing.T) {
	// What the command module sends must split back into the same words.
	argv := []string{"printf", "%s|", "a b", "it's", `"q"`, "$HOME", "", "*"}
	got, err := splitCommandLine(quoteArgv(argv))
	if err != nil || !reflect.DeepEqual(got, argv) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
}
