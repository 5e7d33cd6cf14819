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

// systemdRuns is the one shell test for "systemd runs this host" that
// service, facts and daemon_json use: sd_booted()'s, /run/systemd/system
// exists (also where systemd is not PID 1, as in a container).
const systemdRuns = `[ -d /run/systemd/system ]`

// svcObserveScript prints key=value lines describing service name.
func svcObserveScript(name string) string {
	q := Quote(name)
	return `if ` + systemdRuns + `; then
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
	name, state := p.String("name"), p.String("state")
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("service: name %q: want a service name", name)
	}
	if state == "" && !p.Has("enabled") {
		return nil, errors.New("service: give state or enabled (or both)")
	}
	out, err := Sh(ctx, t, svcObserveScript(name))
	if err != nil {
		return nil, fmt.Errorf("service %s: reading its state: %w", name, err)
	}
	s := parseSvcState(out)
	if s.masked && (state != "" && state != "stopped" || p.Has("enabled") && p.Bool("enabled")) {
		return nil, fmt.Errorf("service %s is masked: systemd will not start or enable it (unmask it first: systemctl unmask %s)", name, name)
	}
	sp := svcPlanSteps(s, p, name)
	res := &Result{Outputs: map[string]any{"init": s.init, "running": sp.running, "enabled": sp.enabled}}
	plan := NewPlan("service "+name, fmt.Sprintf("%s: running=%t enabled=%t", s.init, s.running, s.enabled))
	if len(sp.steps) == 0 {
		return plan.Apply(ctx, t, res)
	}
	if !s.exists {
		if !t.Check {
			return nil, fmt.Errorf("service %s not found (%s)", name, s.init)
		}
		// An earlier step (a package install) that would provide the
		// service did not run in check mode: predict instead of failing.
		plan.Note("service not found (assuming an earlier step installs it)")
	}
	// All steps in one round trip; the script names the step that failed,
	// followed by the init system's own output.
	plan.Add(strings.Join(sp.actions, ", "), strings.Join(sp.diffs, "\n")+"\n", func(ctx context.Context) error {
		_, err := Sh(ctx, t, svcScript(sp.steps))
		var ee *ExitError
		if errors.As(err, &ee) {
			return errors.New(strings.TrimSpace(ee.Stdout + "\n" + ee.Stderr))
		}
		return err
	})
	return plan.Apply(ctx, t, res)
}

// svcSteps is what the service module will do: shell steps run in order,
// the actions as reported, diff lines, and the state afterwards.
type svcSteps struct {
	steps, actions, diffs []string
	running, enabled      bool
}

func (sp *svcSteps) add(action, diff string, steps ...string) {
	sp.steps = append(sp.steps, steps...)
	sp.actions = append(sp.actions, action)
	sp.diffs = append(sp.diffs, diff)
}

// svcPlanSteps compares the observed service with state and enabled.
func svcPlanSteps(s svcState, p Params, name string) svcSteps {
	sp := svcSteps{running: s.running, enabled: s.enabled}
	if s.stale || s.init == "systemd" && p.Bool("daemon_reload") {
		// The unit file changed (a copy step before this one): systemd
		// would run the old definition until a daemon-reload.
		sp.add("daemon-reload", "daemon-reload", "systemctl daemon-reload")
	}
	wait := p.Int("wait")
	if !p.Has("wait") {
		wait = 10
	}
	start := []string{svcCtl(s, name, "start"), svcWaitRunning(s, name, wait)}
	switch state := p.String("state"); {
	case state == "started" && !s.running, state == "reloaded" && !s.running:
		sp.add("start "+name, "state stopped -> started", start...)
	case state == "stopped" && s.running:
		sp.add("stop "+name, "state started -> stopped", svcCtl(s, name, "stop"))
	case state == "restarted" && !s.running:
		sp.add("restart "+name, "state restarted", start...)
	case state == "restarted":
		sp.add("restart "+name, "state restarted", svcCtl(s, name, "restart"), svcWaitRunning(s, name, wait))
	case state == "reloaded":
		sp.add("reload "+name, "state reloaded", svcCtl(s, name, "reload"))
	}
	if st := p.String("state"); st != "" {
		sp.running = st != "stopped"
	}
	if want := p.Bool("enabled"); p.Has("enabled") && want != s.enabled {
		sp.add(map[bool]string{true: "enable ", false: "disable "}[want]+name, fmt.Sprintf("enabled %t -> %t", s.enabled, want), svcEnableCmd(s, name, want))
		sp.enabled = want
	}
	return sp
}

// svcEnableCmd enables or disables the service at boot.
func svcEnableCmd(s svcState, name string, want bool) string {
	switch {
	case s.init == "systemd" && want:
		return "systemctl enable " + Quote(name)
	case s.init == "systemd":
		return "systemctl disable " + Quote(name)
	case want:
		// defaults creates the rc links if there are none; enable turns
		// K links left by an earlier disable back into S links.
		return "update-rc.d " + Quote(name) + " defaults && update-rc.d " + Quote(name) + " enable"
	}
	return "update-rc.d " + Quote(name) + " disable"
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
