package modules

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

func init() {
	Register(&Module{
		Name: "service",
		Doc: `Start, stop, restart or reload a service and set whether it starts at boot.

Works with systemd when it runs the host (/run/systemd/system exists: systemctl)
and otherwise with SysV init scripts (service NAME ... / /etc/init.d/NAME and
update-rc.d), as in containers and the lab. The current state is observed in
one command. started/stopped change only when needed; restarted and reloaded
always change (reloaded starts a stopped service). On systemd, a unit whose
file changed since the last daemon-reload gets one first (reported as a
change), and a masked unit is refused with a clear error. After starting, the module
waits up to wait seconds until the service reports running.

Example:
    service(hosts("all"), name = "docker", state = "started", enabled = True)
    service(cfg.changed, name = "docker", state = "restarted")`,
		Params: []Param{
			{Name: "name", Type: String, Required: true, Doc: "The service (systemd unit or init.d script name)."},
			{Name: "state", Type: String, Choices: []string{"started", "stopped", "restarted", "reloaded"}, Doc: "Wanted run state; unset leaves it alone."},
			{Name: "enabled", Type: Bool, Doc: "Whether the service starts at boot; unset leaves it alone."},
			{Name: "daemon_reload", Type: Bool, Default: false, Doc: "systemd: run `systemctl daemon-reload` first (a change). Pass whether the step that wrote the unit file changed it, e.g. `daemon_reload = lambda h: h.name in unit.changed.names`, so that --check predicts it; a unit whose file changed on disk is reloaded even without it."},
			{Name: "wait", Type: Int, Default: int64(10), Doc: "Seconds to wait after a start/restart until the service reports running."},
		},
		Outputs: map[string]string{
			"init":    `"systemd" or "sysv".`,
			"running": "Whether the service runs afterwards (predicted in check mode).",
			"enabled": "Whether the service starts at boot afterwards (predicted in check mode).",
		},
		Run: runService,
	})
}

// svcState is what the observation command reports.
type svcState struct {
	init    string // systemd | sysv
	exists  bool
	running bool
	enabled bool
	tool    string // sysv: "service" or the init.d script path
	masked  bool   // systemd: the unit is masked
	stale   bool   // systemd: its unit file changed on disk since the last daemon-reload
}

// svcObserveScript prints key=value lines describing service name.
func svcObserveScript(name string) string {
	q := Quote(name)
	return `if [ -d /run/systemd/system ]; then
  echo init=systemd
  load=$(systemctl show -p LoadState --value ` + q + ` 2>/dev/null)
  [ "$load" = loaded ] && echo exists=1
  [ "$load" = masked ] && echo masked=1
  [ "$(systemctl show -p NeedDaemonReload --value ` + q + ` 2>/dev/null)" = yes ] && echo reload=1
  [ "$(systemctl is-active ` + q + ` 2>/dev/null)" = active ] && echo running=1
  case "$(systemctl is-enabled ` + q + ` 2>/dev/null)" in enabled|enabled-runtime|static|alias|indirect|generated) echo enabled=1;; esac
else
  echo init=sysv
  if [ -x /etc/init.d/` + q + ` ]; then echo exists=1; fi
  if command -v service >/dev/null 2>&1; then echo tool=service; s="service ` + q + `"; else s=/etc/init.d/` + q + `; fi
  if [ -x /etc/init.d/` + q + ` ] && $s status >/dev/null 2>&1; then echo running=1; fi
  for f in /etc/rc2.d/S??` + q + ` /etc/rc3.d/S??` + q + ` /etc/rc4.d/S??` + q + ` /etc/rc5.d/S??` + q + `; do
    if [ -e "$f" ]; then echo enabled=1; break; fi
  done
fi
`
}

func parseSvcState(out string) svcState {
	var s svcState
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "init":
			s.init = v
		case "exists":
			s.exists = v == "1"
		case "running":
			s.running = v == "1"
		case "enabled":
			s.enabled = v == "1"
		case "tool":
			s.tool = v
		case "masked":
			s.masked = v == "1"
		case "reload":
			s.stale = v == "1"
		}
	}
	return s
}

// svcCtl returns the command that performs action (start, stop, restart,
// reload, status) on the service under its init system.
func svcCtl(s svcState, name, action string) string {
	if s.init == "systemd" {
		return "systemctl " + action + " " + Quote(name)
	}
	if s.tool == "service" {
		return "service " + Quote(name) + " " + action
	}
	return "/etc/init.d/" + Quote(name) + " " + action
}

// svcWaitRunning polls status on the host, so a slow start costs no extra
// round trips; it exits 124 when the service does not come up in time.
func svcWaitRunning(s svcState, name string, seconds int64) string {
	tries := seconds * 5
	if tries < 1 {
		tries = 1
	}
	return "i=0; until " + svcCtl(s, name, "status") + " >/dev/null 2>&1; do i=$((i+1)); if [ $i -ge " +
		strconv.FormatInt(tries, 10) + " ]; then echo 'not running after " + strconv.FormatInt(seconds, 10) +
		"s' >&2; exit 124; fi; sleep 0.2; done"
}

func runService(ctx context.Context, t *Target, p Params) (*Result, error) {
	name := p.String("name")
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("name %q: want a service name", name)
	}
	state := p.String("state")
	if state == "" && !p.Has("enabled") {
		return nil, errors.New("give state or enabled (or both)")
	}
	out, err := Sh(ctx, t, svcObserveScript(name))
	if err != nil {
		return nil, err
	}
	s := parseSvcState(out)
	res := &Result{Outputs: map[string]any{"init": s.init}}

	if s.masked && (state != "" && state != "stopped" || p.Has("enabled") && p.Bool("enabled")) {
		return nil, fmt.Errorf("service %s is masked: systemd will not start or enable it (unmask it first: systemctl unmask %s)", name, name)
	}
	var steps []string // shell commands, run in order
	var diffs []string
	if s.stale || s.init == "systemd" && p.Bool("daemon_reload") {
		// The unit file changed (a copy step before this one): systemd
		// would run the old definition until a daemon-reload.
		steps = append(steps, "systemctl daemon-reload")
		diffs = append(diffs, "daemon-reload")
	}
	running, enabled := s.running, s.enabled
	wait := p.Int("wait")
	if !p.Has("wait") {
		wait = 10
	}
	switch state {
	case "started":
		if !s.running {
			steps = append(steps, svcCtl(s, name, "start"), svcWaitRunning(s, name, wait))
			diffs = append(diffs, "state stopped -> started")
		}
		running = true
	case "stopped":
		if s.running {
			steps = append(steps, svcCtl(s, name, "stop"))
			diffs = append(diffs, "state started -> stopped")
		}
		running = false
	case "restarted":
		action := "restart"
		if !s.running {
			action = "start"
		}
		steps = append(steps, svcCtl(s, name, action), svcWaitRunning(s, name, wait))
		diffs = append(diffs, "state restarted")
		running = true
	case "reloaded":
		if s.running {
			steps = append(steps, svcCtl(s, name, "reload"))
			diffs = append(diffs, "state reloaded")
		} else {
			steps = append(steps, svcCtl(s, name, "start"), svcWaitRunning(s, name, wait))
			diffs = append(diffs, "state stopped -> started")
		}
		running = true
	}
	if p.Has("enabled") && p.Bool("enabled") != s.enabled {
		want := p.Bool("enabled")
		switch {
		case s.init == "systemd" && want:
			steps = append(steps, "systemctl enable "+Quote(name))
		case s.init == "systemd":
			steps = append(steps, "systemctl disable "+Quote(name))
		case want:
			// defaults creates the rc links if there are none; enable turns
			// K links left by an earlier disable back into S links.
			steps = append(steps, "update-rc.d "+Quote(name)+" defaults && update-rc.d "+Quote(name)+" enable")
		default:
			steps = append(steps, "update-rc.d "+Quote(name)+" disable")
		}
		diffs = append(diffs, fmt.Sprintf("enabled %t -> %t", s.enabled, want))
		enabled = want
	}
	res.Outputs["running"] = running
	res.Outputs["enabled"] = enabled
	if len(steps) == 0 {
		res.Msg = fmt.Sprintf("%s: running=%t enabled=%t", s.init, s.running, s.enabled)
		return res, nil
	}
	if !s.exists {
		if !t.Check {
			return nil, fmt.Errorf("service %s not found (%s)", name, s.init)
		}
		// An earlier step (a package install) that would provide the
		// service did not run in check mode: predict instead of failing.
		res.Msg = "service not found (assuming an earlier step installs it); "
	}
	res.Changed = true
	res.Msg += strings.Join(diffs, ", ")
	if t.Diff {
		res.Diff = strings.Join(diffs, "\n") + "\n"
	}
	if t.Check {
		return res, nil
	}
	// All steps in one round trip; the script names the step that failed,
	// followed by the init system's own output.
	if _, err := Sh(ctx, t, svcScript(steps)); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("service %s: %s", name, strings.TrimSpace(ee.Stdout+"\n"+ee.Stderr))
		}
		return nil, err
	}
	return res, nil
}

// svcScript runs steps in order and stops at the first that fails, printing
// which one and its output. Each step's output goes to a temporary file,
// not to the session: a daemon started by an init script may keep the
// script's stdout open, and on the session's pipe the command would then
// never finish.
func svcScript(steps []string) string {
	var b strings.Builder
	b.WriteString("f=$(mktemp) || exit 1\n")
	for _, step := range steps {
		desc := strings.SplitN(step, ";", 2)[0]
		fmt.Fprintf(&b, "( %s ) </dev/null >\"$f\" 2>&1; rc=$?\nif [ $rc -ne 0 ]; then echo %s exited $rc:; cat \"$f\"; rm -f \"$f\"; exit $rc; fi\n", step, Quote("`"+desc+"`"))
	}
	b.WriteString("rm -f \"$f\"\n")
	return b.String()
}
