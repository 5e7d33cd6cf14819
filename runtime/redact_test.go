package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// Canaries: the shapes of secret that escaped the exact-string redactor.
var canaries = []string{
	"-----BEGIN KEY-----\nQ2FuYXJ5TGluZU9uZQ\nQ2FuYXJ5TGluZVR3bw\n-----END KEY-----",
	`pa"ss'wo<&>rd\back`,
	"short1",
}

// leaks returns every canary, or 6-byte piece of one, found in out.
// Pieces of the PEM armour lines are not secret and are skipped.
func leaks(out string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		for i := 0; i+minPiece <= len(s); i++ {
			p := s[i : i+minPiece]
			if strings.ContainsAny(p, "\n") || strings.Contains("-----BEGIN KEY----------END KEY-----", p) {
				continue
			}
			if strings.Contains(out, p) {
				found = append(found, p)
			}
		}
	}
	return found
}

func TestRedactTransformedForms(t *testing.T) {
	r := NewRedactor()
	for _, c := range canaries {
		r.Add(c)
	}
	pem, quoted, short := canaries[0], canaries[1], canaries[2]
	j, _ := json.Marshal(quoted)
	texts := map[string]string{
		"diff lines":  "+" + strings.ReplaceAll(pem, "\n", "\n+") + "\n",
		"json":        `{"Env":["PW=` + string(j[1:len(j)-1]) + `"]}`,
		"go quoted":   fmt.Sprintf("%q", quoted),
		"shell":       "echo " + connection.ShellQuote(quoted) + " > f",
		"cut tail":    "error: ... command was: echo " + quoted[:9],
		"cut head":    quoted[3:] + " was the rest",
		"short":       "the value " + short + " here",
		"crlf lines":  strings.ReplaceAll(pem, "\n", "\r\n"),
		"diff middle": "-old\n+Q2FuYXJ5TGluZVR3bw\n",
	}
	for name, text := range texts {
		got := r.Redact(text)
		if l := leaks(got, canaries); len(l) > 0 {
			t.Errorf("%s: %q leaks %q", name, got, l)
		}
		if !strings.Contains(got, Mask) {
			t.Errorf("%s: nothing masked in %q", name, got)
		}
	}
	if got := r.Redact("an ordinary line\nwith words"); got != "an ordinary line\nwith words" {
		t.Errorf("ordinary text changed: %q", got)
	}
}

func init() {
	// t_diff: a file-like module whose diff shows the previous and the new
	// content, as lineinfile/copy/daemon_json/stack do.
	testModules.Register(&modules.Module{Name: "t_diff", Doc: "test",
		Params: []modules.Param{{Name: "content", Type: modules.String}},
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			return &modules.Result{Changed: true, Msg: "updated",
				Diff: modules.FileDiff("/etc/app.conf", "password = OldPassword123\nport = 1\n", p.String("content"))}, nil
		}})
}

func TestSecretStepHidesDiffAndTitle(t *testing.T) {
	t.Setenv("CANARY_PEM", canaries[0])
	t.Setenv("CANARY_PW", canaries[1])
	r := play(t, context.Background(), `
t_diff(hosts("h1"), task = "set " + env("CANARY_PW"), content = "password = " + env("CANARY_PW") + "\nport = 1\n")
t_diff(hosts("h1"), content = env("CANARY_PEM"))
t_diff(hosts("h1"), content = "plain = 1\n")
`, Options{Diff: true}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if l := leaks(r.raw, canaries[:2]); len(l) > 0 {
		t.Fatalf("leaks %q in:\n%s", l, r.raw)
	}
	var diffs []string
	for _, ev := range r.events {
		if ev["event"] == "result" {
			diffs = append(diffs, fmt.Sprint(ev["diff"]))
		}
	}
	if len(diffs) != 3 || diffs[0] != DiffHidden+"\n" || diffs[1] != DiffHidden+"\n" || !strings.Contains(diffs[2], "+plain = 1") {
		t.Fatalf("diffs %q", diffs)
	}
}

// A piece of a secret in the middle of a line: echo turned "\b" into a
// backspace, which split the canary; both halves long enough are masked.
func TestRedactPiecesAnywhere(t *testing.T) {
	r := NewRedactor()
	r.Add(canaries[1])
	got := r.Redact("command exited 3: " + strings.Replace(canaries[1], `\b`, "\b", 1) + " (stderr)")
	if l := leaks(got, canaries); len(l) > 0 {
		t.Fatalf("%q leaks %q", got, l)
	}
	if !strings.HasPrefix(got, "command exited 3: ") || !strings.HasSuffix(got, " (stderr)") {
		t.Fatalf("ordinary text lost: %q", got)
	}
}

// echo interprets backslash escapes: "\b" of the canary becomes a
// backspace, and JSON output prints that backspace as "\b" again.
func TestRedactEchoForm(t *testing.T) {
	r := NewRedactor()
	r.Add(canaries[1])
	out := r.Redact("exited 3: " + echoForm(canaries[1]) + "1\n")
	j, _ := json.Marshal(out)
	if l := leaks(string(j), canaries); len(l) > 0 {
		t.Fatalf("%s leaks %q", j, l)
	}
}

// A password holding a word does not mask that word in other text.
func TestRedactKeepsWordsOfSecrets(t *testing.T) {
	r := NewRedactor()
	r.Add("notThePassword-1234")
	msg := "sudo refused the become password (check ansible_become_password)"
	if got := r.Redact(msg); got != msg {
		t.Fatalf("got %q", got)
	}
	if got := r.Redact("failed: notThePassword-12"); strings.Contains(got, "ThePass") {
		t.Fatalf("cut tail not masked: %q", got)
	}
}
