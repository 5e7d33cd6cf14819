package modules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	Register(&Module{
		Name: "wait_for",
		Doc: `Wait, on the host, until a TCP port answers (or stops answering), a path appears (or goes away), or the Docker engine answers.

The polling loop runs on the host in one command. Never a change. In check
mode the condition is probed once and an unmet condition is reported (ok, with
a message) instead of waited for, since the steps that would meet it did not run.
Port checks use bash's /dev/tcp, falling back to nc. Docker checks talk to the
engine's socket with perl-base (no docker CLI needed; needs become).

Example:
    wait_for(hosts("db"), port = 5432, wait_timeout = 60)
    wait_for(hosts("all"), path = "/var/run/docker.sock")
    wait_for(h, docker = "manager", wait_timeout = 60, become = True)`,
		Params: []Param{
			{Name: "port", Type: Int, Doc: "TCP port to check on host. Exactly one of port, path and docker."},
			{Name: "host", Type: String, Default: "127.0.0.1", Doc: "Address to connect to for port, as seen from the target host."},
			{Name: "path", Type: String, Doc: "Path on the host to check. Exactly one of port, path and docker."},
			{Name: "docker", Type: String, Choices: []string{"answering", "manager"},
				Doc: "answering: the Docker engine answers its API (GET /_ping); manager: it also acts as a swarm manager (ControlAvailable). Exactly one of port, path and docker."},
			{Name: "socket", Type: String, Default: "/var/run/docker.sock", Doc: "The Docker engine's socket, for docker."},
			{Name: "state", Type: String, Default: "started", Choices: []string{"started", "stopped", "present", "absent"},
				Doc: "started/present: wait until the port answers or the path exists; stopped/absent: until it no longer does."},
			{Name: "wait_timeout", Type: Int, Default: int64(300), Doc: "Seconds to wait before failing (named so as not to clash with the common timeout keyword)."},
			{Name: "initial_delay", Type: Int, Default: int64(0), Doc: "Seconds to wait before the first check."},
		},
		Outputs: map[string]string{"elapsed": "Seconds waited (whole)."},
		Run:     runWaitFor,
	})
}

// waitProbe returns a shell condition that is true when the resource exists
// (the port answers, the path exists).
var waitHostRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]*$`)

func waitProbe(p Params) (string, error) {
	given := 0
	for _, k := range []string{"port", "path", "docker"} {
		if p.Has(k) {
			given++
		}
	}
	switch {
	case given > 1:
		return "", errors.New("give one of port, path and docker")
	case p.Has("docker"):
		socket := p.String("socket")
		if socket == "" {
			socket = connection.DockerSocket
		}
		return engineProbe(socket, p.String("docker") == "manager"), nil
	case p.Has("port"):
		port := p.Int("port")
		if port <= 0 || port > 65535 {
			return "", fmt.Errorf("port %d: out of range", port)
		}
		host := p.String("host")
		if host == "" {
			host = "127.0.0.1"
		}
		if !waitHostRe.MatchString(host) {
			return "", fmt.Errorf("host %q: want a host name or IP address", host)
		}
		// The host reaches bash as an argument, never as script text.
		ps := strconv.FormatInt(port, 10)
		return "{ if command -v bash >/dev/null 2>&1; then timeout 2 bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' _ " + Quote(host) + " " + ps +
			" 2>/dev/null; else nc -z -w 2 " + Quote(host) + " " + ps + " 2>/dev/null; fi; }", nil
	case p.Has("path"):
		q := Quote(p.String("path"))
		return "{ [ -e " + q + " ] || [ -L " + q + " ]; }", nil
	}
	return "", errors.New("give port, path or docker")
}

func runWaitFor(ctx context.Context, t *Target, p Params) (*Result, error) {
	probe, err := waitProbe(p)
	if err != nil {
		return nil, err
	}
	state := p.String("state")
	want := state == "" || state == "started" || state == "present"
	timeout := p.Int("wait_timeout")
	if !p.Has("wait_timeout") {
		timeout = 300
	}
	// Waiting changes nothing: the plan is always empty, the gate only
	// words the result.
	plan := NewPlan("wait_for", "")
	res := &Result{}
	if t.Check {
		out, err := Sh(ctx, t, "if "+probe+"; then echo up; else echo down; fi")
		if err != nil {
			return nil, plan.Errorf("probing: %w", err)
		}
		if (strings.TrimSpace(out) == "up") != want {
			plan.Note("condition not met yet; would wait up to " + strconv.FormatInt(timeout, 10) + "s (check mode)")
		} else {
			// Met now: what a real run would report without waiting.
			plan.Unchanged = waitState(p, want) + " after 0s"
		}
		return plan.Apply(ctx, t, res)
	}
	n, err := waitLoop(ctx, t, p, probe, want, timeout)
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	res.Outputs = map[string]any{"elapsed": n}
	plan.Unchanged = fmt.Sprintf("%s after %ds", waitState(p, want), n)
	return plan.Apply(ctx, t, res)
}

// waitState names the state waited for: the state parameter, or whether the
// Docker engine answers.
func waitState(p Params, want bool) string {
	if p.Has("docker") {
		return map[bool]string{true: "answering", false: "not answering"}[want]
	}
	return p.String("state")
}

// waitLoop polls probe on the host (one round trip) until it holds (or,
// with want false, no longer holds) and returns the seconds it took.
func waitLoop(ctx context.Context, t *Target, p Params, probe string, want bool, timeout int64) (int64, error) {
	// until/while rather than "! probe": dash rejects "! !" and a negated
	// probe would read worse in errors anyway.
	loop := "until"
	if !want {
		loop = "while"
	}
	// n stays 0 when the first probe holds, however the clock ticks.
	script := fmt.Sprintf(`sleep %d; start=$(date +%%s); n=0
%s %s; do
  now=$(date +%%s)
  if [ $((now - start)) -ge %d ]; then echo "timeout after %ds" >&2; exit 124; fi
  sleep 1; n=1
done
[ $n = 0 ] || n=$(( $(date +%%s) - start ))
echo $n`, p.Int("initial_delay"), loop, probe, timeout, timeout)
	r, err := t.Conn.Run(ctx, script, connection.RunOpts{Become: t.Become})
	if err != nil {
		return 0, err
	}
	if r.ExitCode != 0 {
		what := "port " + strconv.FormatInt(p.Int("port"), 10)
		switch {
		case p.Has("path"):
			what = "path " + p.String("path")
		case p.Has("docker"):
			what = "the Docker engine"
			if p.String("docker") == "manager" {
				what = "the Docker engine as a swarm manager"
			}
		}
		return 0, fmt.Errorf("timed out after %ds waiting for %s to be %s", timeout, what, waitState(p, want))
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(r.Stdout)), 10, 64)
	return n, nil
}
