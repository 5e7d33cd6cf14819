package modules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// Sh runs cmd on the target (with sudo when the step asks for it) and returns
// its standard output; a non-zero exit becomes an error carrying stderr.
func Sh(ctx context.Context, t *Target, cmd string) (string, error) {
	r, err := t.Conn.Run(ctx, cmd, connection.RunOpts{Become: t.Become})
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return string(r.Stdout), &ExitError{Cmd: cmd, Code: r.ExitCode, Stderr: strings.TrimSpace(string(r.Stderr)), Stdout: strings.TrimSpace(string(r.Stdout))}
	}
	return string(r.Stdout), nil
}

// ExitError is a remote command that exited non-zero.
type ExitError struct {
	Cmd    string
	Code   int
	Stderr string
	Stdout string
}

func (e *ExitError) Error() string {
	msg := e.Stderr
	if msg == "" {
		msg = e.Stdout
	}
	if len(msg) > 2000 {
		msg = msg[len(msg)-2000:]
	}
	return fmt.Sprintf("command exited %d: %s", e.Code, msg)
}

// Quote returns s quoted for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FileDiff returns a unified diff of a file's old and new content, labelled
// with its path; "" when they are equal.
func FileDiff(path, before, after string) string {
	if before == after {
		return ""
	}
	lines := func(s string) []string {
		if s == "" {
			return nil // a new or emptied file: no phantom empty line
		}
		return difflib.SplitLines(s)
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(before), B: lines(after),
		FromFile: path + " (before)", ToFile: path + " (after)", Context: 3,
	})
	return d
}
