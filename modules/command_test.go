package modules

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/connection"
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

func TestCommandLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "it's here")

	r := genConverge(t, tg, dir, "command", map[string]any{"argv": []any{"touch", marker}, "creates": marker})
	if _, err := os.Stat(marker); err != nil || r.Outputs["rc"] != int64(0) {
		t.Fatalf("%v %+v", err, r)
	}
	r, err := genRun(t, tg, false, "command", map[string]any{"argv": []any{"touch", marker}, "creates": marker})
	if err != nil || r.Changed || !strings.Contains(r.Msg, "exists") {
		t.Errorf("creates guard: %+v %v", r, err)
	}
	genConverge(t, tg, dir, "command", map[string]any{"cmd": `rm "` + marker + `"`, "removes": marker})

	// cmd is split without a shell: $HOME and | reach the program as is.
	r, err = genRun(t, tg, false, "command", map[string]any{"cmd": `printf '%s,' $HOME "a b" |`, "chdir": dir})
	if err != nil || r.Outputs["stdout"] != "$HOME,a b,|," || !r.Changed {
		t.Errorf("%+v %v", r, err)
	}
	r, err = genRun(t, tg, false, "command", map[string]any{"argv": []any{"pwd"}, "chdir": dir, "changed_when": false})
	if err != nil || r.Outputs["stdout"] != dir || r.Changed {
		t.Errorf("chdir: %+v %v", r, err)
	}
	r, err = genRun(t, tg, false, "command", map[string]any{"argv": []any{"cat"}, "stdin": "in\n"})
	if err != nil || r.Outputs["stdout"] != "in" {
		t.Errorf("stdin: %+v %v", r, err)
	}
	// Check mode runs nothing unless check_safe.
	r, err = genRun(t, tg, true, "command", map[string]any{"argv": []any{"touch", marker}})
	if _, serr := os.Stat(marker); err != nil || !r.Changed || serr == nil {
		t.Errorf("check mode ran the command: %+v %v", r, err)
	}
	r, err = genRun(t, tg, true, "command", map[string]any{"argv": []any{"echo", "ok"}, "check_safe": true, "changed_when": false})
	if err != nil || r.Changed || r.Outputs["stdout"] != "ok" {
		t.Errorf("check_safe: %+v %v", r, err)
	}
	// Exit codes.
	r, err = genRun(t, tg, false, "command", map[string]any{"argv": []any{"sh", "-c", "echo bad >&2; exit 3"}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Stderr != "bad" || r == nil || r.Outputs["rc"] != int64(3) {
		t.Errorf("failure: %+v %v", r, err)
	}
	if _, err = genRun(t, tg, false, "command", map[string]any{"argv": []any{"sh", "-c", "exit 3"}, "ok_rc": []any{int64(0), int64(3)}}); err != nil {
		t.Errorf("ok_rc: %v", err)
	}
}

func TestShellLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	genConverge(t, tg, dir, "shell", map[string]any{"cmd": "echo a | tr a b > out", "chdir": dir, "creates": out})
	if genRead(t, out) != "b\n" {
		t.Fatalf("%q", genRead(t, out))
	}
	r, err := genRun(t, tg, false, "shell", map[string]any{"cmd": `echo "${BASH_VERSION:+bash}"`, "executable": "/bin/bash"})
	if err != nil || r.Outputs["stdout"] != "bash" {
		t.Errorf("executable: %+v %v", r, err)
	}
	if _, err := genRun(t, tg, false, "shell", map[string]any{"cmd": "false"}); err == nil {
		t.Error("false: want an error")
	}
}

func TestCommandEnv(t *testing.T) {
	tg := genTarget(t)
	env := map[string]any{"GREETING": "it's a \"quoted\" $value\nline2", "N": int64(3)}
	r, err := genRun(t, tg, false, "shell", map[string]any{"cmd": `printf '%s|%s' "$GREETING" "$N"`, "env": env})
	if err != nil || r.Outputs["stdout"] != "it's a \"quoted\" $value\nline2|3" {
		t.Errorf("shell env: %+v %v", r, err)
	}
	r, err = genRun(t, tg, false, "command", map[string]any{"argv": []any{"sh", "-c", "echo \"$GREETING\""}, "env": env, "stdin": "x"})
	if err != nil || r.Outputs["stdout"] != "it's a \"quoted\" $value\nline2" {
		t.Errorf("command env with stdin: %+v %v", r, err)
	}
	if _, err := genRun(t, tg, false, "shell", map[string]any{"cmd": "true", "env": map[string]any{"BAD-NAME": "x"}}); err == nil || !strings.Contains(err.Error(), "BAD-NAME") {
		t.Errorf("bad name: %v", err)
	}
	r, err = genRun(t, tg, false, "shell", map[string]any{"cmd": "exit 4", "env": map[string]any{"TOKEN": "very-secret-token"}})
	if err == nil || strings.Contains(err.Error(), "very-secret-token") {
		t.Errorf("a failing command's error shows its env: %v", err)
	}
}

// runCounter counts the commands sent to the host.
type runCounter struct {
	connection.Conn
	n int
}

func (c *runCounter) Run(ctx context.Context, cmd string, o connection.RunOpts) (*connection.RunResult, error) {
	c.n++
	return c.Conn.Run(ctx, cmd, o)
}

// The guards are observed before the command runs: one round trip more,
// only when a guard is given; a re-run the guard skips takes one.
func TestCommandRoundTrips(t *testing.T) {
	tg := genTarget(t)
	rc := &runCounter{Conn: tg.Conn}
	tg.Conn = rc
	marker := filepath.Join(tg.Dir, "m")
	for _, c := range []struct {
		check bool
		given map[string]any
		trips int
		msg   string
	}{
		{false, map[string]any{"argv": []any{"true"}}, 1, "run true; rc=0"},
		{true, map[string]any{"argv": []any{"true"}}, 0, "would run true"},
		{true, map[string]any{"argv": []any{"touch", marker}, "creates": marker}, 1, "would run touch …"},
		{false, map[string]any{"argv": []any{"touch", marker}, "creates": marker}, 2, "run touch …; rc=0"},
		{false, map[string]any{"argv": []any{"touch", marker}, "creates": marker}, 1, "not run: " + marker + " exists"},
		{false, map[string]any{"argv": []any{"rm", marker}, "removes": marker}, 2, "run rm …; rc=0"},
		{true, map[string]any{"argv": []any{"rm", marker}, "removes": marker}, 1, "not run: " + marker + " does not exist"},
		{false, map[string]any{"cmd": "exit 0", "changed_when": false}, 1, "rc=0"},
		{true, map[string]any{"cmd": "exit 0", "changed_when": false}, 0, "not run (check mode)"},
		{true, map[string]any{"cmd": "exit 0", "check_safe": true}, 1, "would run sh …; rc=0"},
	} {
		module := "command"
		if _, ok := c.given["cmd"]; ok {
			module = "shell"
		}
		rc.n = 0
		r, err := genRun(t, tg, c.check, module, c.given)
		if err != nil || r.Msg != c.msg || rc.n != c.trips {
			t.Errorf("%s %v (check %v): %+v %v in %d round trips; want %q in %d", module, c.given, c.check, r, err, rc.n, c.msg, c.trips)
		}
	}
}

// A failure names the module and the change, keeps the outputs and does
// not show the arguments.
func TestCommandFailure(t *testing.T) {
	tg := genTarget(t)
	r, err := genRun(t, tg, false, "command", map[string]any{"argv": []any{"sh", "-c", "echo bad >&2; exit 3"}})
	if err == nil || err.Error() != "command: run sh …: command exited 3: bad" || r == nil || r.Outputs["stderr"] != "bad" {
		t.Errorf("%+v %v", r, err)
	}
	_, err = genRun(t, tg, false, "shell", map[string]any{"cmd": "exit 4", "changed_when": false})
	if err == nil || !strings.HasPrefix(err.Error(), "shell: run sh …: command exited 4") {
		t.Errorf("a read that fails: %v", err)
	}
}
