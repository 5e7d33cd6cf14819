package modules

import (
	"context"
	"errors"
)

func init() {
	Register(&Module{
		Name: "shell",
		Doc: `Run a shell command line on the host: pipes, redirections, variables, globs.

cmd runs with sh -c, or with executable -c (e.g. "/bin/bash") when given. As with
command(), it is a change unless changed_when = False, creates/removes skip it,
and in check mode it does not run unless check_safe = True.

Example:
    shell(hosts("all"), cmd = "dpkg -l | grep -c ^ii > /root/pkgcount", creates = "/root/pkgcount")
    shell(hosts("all"), cmd = "set -o pipefail; journalctl | tail", executable = "/bin/bash",
          changed_when = False, check_safe = True)`,
		Params: append([]Param{
			{Name: "cmd", Type: String, Required: true, Doc: "The shell command line."},
			{Name: "executable", Type: String, Doc: "Shell to run cmd with (called as EXECUTABLE -c CMD); default sh."},
		}, cmdCommonParams...),
		Outputs: cmdOutputs,
		Run: func(ctx context.Context, t *Target, p Params) (*Result, error) {
			script := p.String("cmd")
			if script == "" {
				return nil, errors.New("shell: cmd: empty")
			}
			argv0 := "sh"
			if sh := p.String("executable"); sh != "" {
				argv0, script = sh, Quote(sh)+" -c "+Quote(script)
			}
			return runCmd(ctx, t, p, "shell", cmdWhat(argv0, true), script)
		},
	})
}
