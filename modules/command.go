package modules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
	"github.com/swarmrun/swarmrun/runtime/shellwords"
)

// cmdCommonParams are shared by command and shell.
var cmdCommonParams = []Param{
	{Name: "chdir", Type: String, Doc: "Directory to run the command in."},
	{Name: "creates", Type: String, Doc: "A path on the host; if it exists the command is not run (reported ok, not changed)."},
	{Name: "removes", Type: String, Doc: "A path on the host; if it does not exist the command is not run (reported ok, not changed)."},
	{Name: "stdin", Type: String, Doc: "Data fed to the command's standard input, as is (no newline is added)."},
	{Name: "env", Type: Dict, Sensitive: true, Doc: "Environment variables for the command (Ansible's environment:). Values are treated as secrets: masked in all output. They reach the host inside the script the host's shell reads, not as arguments; with stdin also given, the command runs as sh -c SCRIPT and other users of the host may see them in the process list while it runs."},
	{Name: "ok_rc", Type: List, Default: []any{int64(0)}, Doc: "Exit codes that count as success; any other fails the step."},
	{Name: "changed_when", Type: Bool, Default: true, Doc: "Whether running the command counts as a change. Set False for read-only commands."},
	{Name: "check_safe", Type: Bool, Default: false, Doc: "The command only reads: run it in check mode too (otherwise check mode only reports that it would run)."},
}

var cmdOutputs = map[string]string{
	"stdout": "The command's standard output, with the final newline removed.",
	"stderr": "The command's standard error, with the final newline removed.",
	"rc":     "The exit code.",
}

func init() {
	Register(&Module{
		Name: "command",
		Doc: `Run a program on the host, without a shell.

Give argv (a list: no quoting issues at all) or cmd (a string split into words like a
shell would, honouring quotes and backslashes, but with no variables, globs,
pipes or redirections: use shell() for those). A command is a change unless
changed_when = False. creates/removes make it idempotent: the command is skipped
when the path already exists / is already gone. In check mode the command does
not run (it is reported as it would be) unless check_safe = True.

Example:
    command(hosts("db"), argv = ["pg_ctlcluster", "15", "main", "reload"])
    command(hosts("all"), cmd = "tar xzf /tmp/app.tgz -C /opt", creates = "/opt/app")`,
		Params: append([]Param{
			{Name: "argv", Type: List, Doc: "The program and its arguments as a list. Exactly one of argv and cmd."},
			{Name: "cmd", Type: String, Doc: "The command line as a string, split shell-like into words. Exactly one of argv and cmd."},
		}, cmdCommonParams...),
		Outputs: cmdOutputs,
		Run: func(ctx context.Context, t *Target, p Params) (*Result, error) {
			var argv []string
			switch {
			case p.Has("argv") && p.Has("cmd"):
				return nil, errors.New("command: give argv or cmd, not both")
			case p.Has("argv"):
				argv = p.Strings("argv")
			case p.Has("cmd"):
				var err error
				if argv, err = splitCommandLine(p.String("cmd")); err != nil {
					return nil, fmt.Errorf("command: cmd: %w", err)
				}
			}
			if len(argv) == 0 {
				return nil, errors.New("command: give argv or cmd: the command to run")
			}
			return runCmd(ctx, t, p, "command", cmdWhat(argv[0], len(argv) > 1), quoteArgv(argv))
		},
	})
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// splitCommandLine splits s into words as /bin/sh quotes them, expanding
// nothing.
func splitCommandLine(s string) ([]string, error) { return shellwords.Sh.Split(s) }

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envExports renders env as export lines, in name order.
func envExports(env map[string]any) (string, error) {
	names := make([]string, 0, len(env))
	for k := range env {
		if !envName.MatchString(k) {
			return "", fmt.Errorf("env: %q is not a valid environment variable name", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		switch v := env[k].(type) {
		case string, int64, bool, float64:
			fmt.Fprintf(&b, "export %s=%s\n", k, Quote(fmt.Sprint(v)))
		default:
			return "", fmt.Errorf("env: %s must be a string or number, got %T", k, v)
		}
	}
	return b.String(), nil
}

// cmdGuard observes the creates/removes guards (one round trip, only when
// one is given) and returns why the command is not to run, "" when it is.
func cmdGuard(ctx context.Context, t *Target, creates, removes string) (string, error) {
	var s strings.Builder
	if creates != "" {
		fmt.Fprintf(&s, "if [ -e %s ] || [ -L %s ]; then echo creates; exit 0; fi\n", Quote(creates), Quote(creates))
	}
	if removes != "" {
		fmt.Fprintf(&s, "if ! [ -e %s ] && ! [ -L %s ]; then echo removes; fi\n", Quote(removes), Quote(removes))
	}
	if s.Len() == 0 {
		return "", nil
	}
	out, err := Sh(ctx, t, s.String())
	if err != nil {
		return "", err
	}
	switch strings.TrimSpace(out) {
	case "creates":
		return "not run: " + creates + " exists", nil
	case "removes":
		return "not run: " + removes + " does not exist", nil
	}
	return "", nil
}

// okCodes reads ok_rc (default: 0).
func okCodes(p Params) (map[int]bool, error) {
	okRC := map[int]bool{}
	for _, v := range p.List("ok_rc") {
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("ok_rc: want a list of ints, got %v", v)
		}
		okRC[int(n)] = true
	}
	if len(okRC) == 0 {
		okRC[0] = true
	}
	return okRC, nil
}

// cmdWhat is the change a command makes as reported: "run" and the program
// (argv[0]; sh or the executable for shell), never its arguments, which may
// hold secrets.
func cmdWhat(argv0 string, more bool) string {
	if more {
		return "run " + argv0 + " …"
	}
	return "run " + argv0
}

// runCmd is the shared body of command and shell: script is what `sh -c`
// runs on the host, what is the change as reported (cmdWhat). Running the
// command is the change, unless changed_when = False: then it is a read,
// run while observing (and, like any command, in check mode only when
// check_safe). The guards are observed first.
func runCmd(ctx context.Context, t *Target, p Params, module, what, script string) (*Result, error) {
	plan := NewPlan(module, "")
	okRC, err := okCodes(p)
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	exports, err := envExports(p.Dict("env"))
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	changed := !p.Has("changed_when") || p.Bool("changed_when")
	res := &Result{}
	skip, err := cmdGuard(ctx, t, p.String("creates"), p.String("removes"))
	if err != nil {
		return nil, plan.Errorf("creates/removes: %w", err)
	}
	if skip != "" {
		plan.Unchanged = skip
		return plan.Apply(ctx, t, res)
	}
	if dir := p.String("chdir"); dir != "" {
		// A newline, not &&, so that a script with its own newlines,
		// here-documents or `exit` keeps its meaning.
		script = "cd " + Quote(dir) + " || exit 1\n" + script
	}
	run := func(ctx context.Context) error {
		return cmdExec(ctx, t, p, plan, res, okRC, exports, script)
	}
	runNow := t.Check && p.Bool("check_safe") // it only reads: check mode runs it too
	if !changed && t.Check && !runNow {
		plan.Unchanged = "not run (check mode)"
		return plan.Apply(ctx, t, res)
	}
	if runNow || !changed {
		if err := run(ctx); err != nil {
			return res, plan.Errorf("%s: %w", what, err)
		}
	}
	if changed {
		plan.Add(what, "", run)
	}
	if _, err := plan.Apply(ctx, t, res); err != nil {
		return res, err // with the outputs, for a runtime that shows them
	}
	return res, nil
}

// cmdExec runs the command once: its outputs go to res and its exit code
// to a note ("rc=0"); an exit code not in okRC is an error.
func cmdExec(ctx context.Context, t *Target, p Params, plan *Plan, res *Result, okRC map[int]bool, exports, script string) error {
	o := connection.RunOpts{Become: t.Become}
	if p.Has("stdin") {
		o.Stdin = []byte(p.String("stdin"))
	}
	r, err := t.Conn.Run(ctx, exports+script, o)
	if err != nil {
		return err
	}
	stdout := strings.TrimSuffix(string(r.Stdout), "\n")
	stderr := strings.TrimSuffix(string(r.Stderr), "\n")
	res.Outputs = map[string]any{"stdout": stdout, "stderr": stderr, "rc": int64(r.ExitCode)}
	if !okRC[r.ExitCode] {
		return &ExitError{Cmd: script, Code: r.ExitCode, Stderr: strings.TrimSpace(stderr), Stdout: strings.TrimSpace(stdout)}
	}
	plan.Note(fmt.Sprintf("rc=%d", r.ExitCode))
	return nil
}
