package connection

import (
	"context"
	"strings"
	"testing"
)

// TestShellReuse: commands without stdin share one session and keep sh -c
// semantics: output as is, exit status, stderr, no state carried over.
func TestShellReuse(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	cases := []struct {
		cmd, out, err string
		code          int
	}{
		{"printf a", "a", "", 0},
		{"echo out; echo err >&2; exit 3", "out\n", "err\n", 3},
		{"printf '\\n\\n'", "\n\n", "", 0},
		{"x=1; cd /; pwd", "/\n", "", 0},
		{`echo "x=$x"; [ "$(pwd)" = / ] && echo still-in-root || echo fresh-dir`, "x=\nfresh-dir\n", "", 0},
		{"set -e; false; echo not-here", "", "", 1},
		{"cat; echo stdin-was-empty", "stdin-was-empty\n", "", 0},
		{"echo 'swarmrun-{' '}'", "swarmrun-{ }\n", "", 0},
		{"trap 'echo bye' EXIT; exit 4", "bye\n", "", 4},
	}
	for _, tc := range cases {
		res := mustRun(t, c, tc.cmd, RunOpts{})
		if string(res.Stdout) != tc.out || string(res.Stderr) != tc.err || res.ExitCode != tc.code {
			t.Errorf("%q: got out %q err %q code %d, want %q %q %d", tc.cmd, res.Stdout, res.Stderr, res.ExitCode, tc.out, tc.err, tc.code)
		}
	}
	// A syntax error is the command's failure, not the shell's.
	res := mustRun(t, c, "echo 'unbalanced", RunOpts{})
	if res.ExitCode == 0 || len(res.Stderr) == 0 || len(res.Stdout) != 0 {
		t.Errorf("syntax error: %+v", res)
	}
	if res := mustRun(t, c, "echo after", RunOpts{}); string(res.Stdout) != "after\n" {
		t.Errorf("after a syntax error: %q", res.Stdout)
	}
	if got := s.execs.Load(); got != 1 {
		t.Errorf("%d exec sessions, want 1 shell for all", got)
	}
	// Stdin still gets a session of its own.
	if res := mustRun(t, c, "cat", RunOpts{Stdin: []byte("in")}); string(res.Stdout) != "in" {
		t.Errorf("stdin: %q", res.Stdout)
	}
	if got := s.execs.Load(); got != 2 {
		t.Errorf("%d exec sessions, want 2", got)
	}
}

// TestShellDies: a command that kills the shell fails (its fate is unknown),
// and the next command gets a new shell.
func TestShellDies(t *testing.T) {
	s, cfg := setup(t)
	c := dial(t, cfg)
	mustRun(t, c, "true", RunOpts{})
	if _, err := c.Run(context.Background(), "kill -9 $$", RunOpts{}); err == nil || !strings.Contains(err.Error(), "without an exit status") {
		t.Fatalf("err = %v", err)
	}
	if res := mustRun(t, c, "echo ok", RunOpts{}); string(res.Stdout) != "ok\n" {
		t.Fatalf("next command: %q", res.Stdout)
	}
	if got := s.execs.Load(); got != 2 {
		t.Errorf("%d exec sessions, want 2 shells", got)
	}
}

// TestShellLargeOutput: output larger than the channel window arrives whole.
func TestShellLargeOutput(t *testing.T) {
	_, cfg := setup(t)
	c := dial(t, cfg)
	res := mustRun(t, c, "i=0; while [ $i -lt 20000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo done >&2", RunOpts{})
	lines := strings.Split(strings.TrimSuffix(string(res.Stdout), "\n"), "\n")
	if len(lines) != 20000 || lines[19999] != "line-19999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" || string(res.Stderr) != "done\n" {
		t.Errorf("got %d lines, last %q, stderr %q", len(lines), lines[len(lines)-1], res.Stderr)
	}
	big := strings.Repeat("y", 1<<20)
	res = mustRun(t, c, "printf %s "+ShellQuote(big)+" | wc -c", RunOpts{})
	if strings.TrimSpace(string(res.Stdout)) != "1048576" {
		t.Errorf("1 MiB command: %q", res.Stdout)
	}
}

// BenchmarkRunShell is a command through the persistent shell;
// BenchmarkRunSession the same command in a session of its own (stdin
// forces one), as every command ran before the shell. Against the
// in-process server (sh -c per exec), so the gap is a lower bound of sshd's.
func BenchmarkRunShell(b *testing.B) {
	benchRun(b, RunOpts{})
}

func BenchmarkRunSession(b *testing.B) {
	benchRun(b, RunOpts{Stdin: []byte("\n")})
}

func benchRun(b *testing.B, o RunOpts) {
	_, cfg := setup(b)
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.Run(context.Background(), "echo ok", o)
		if err != nil || string(res.Stdout) != "ok\n" {
			b.Fatal(err, res)
		}
	}
}
