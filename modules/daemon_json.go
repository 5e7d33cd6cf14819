package modules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	Register(&Module{
		Name: "daemon_json",
		Doc: `Manage Docker's daemon.json, optionally restarting Docker with roll-back.
The current file is compared semantically (key order, spacing and number
formatting do not matter), so an equal file is left alone. mode = "merge" sets
the given top-level keys and keeps the others; "replace" makes the file exactly
config. Before writing, the new content is checked with dockerd --validate
where the engine supports it (20.10 does not: the message says validation was
skipped). The previous file is kept as PATH.bak. With restart = True a changed
file restarts Docker (systemctl when systemd runs the host, else service) and waits
until the engine answers; if it does not, the previous file is restored,
Docker restarted again, and the step fails with the engine's last log lines.
changed is true only when the file changed, so a later step can restart
Docker only where needed:

    cfg = daemon_json(hosts("all"), config = {"log-driver": "json-file",
                      "log-opts": {"max-size": "10m", "max-file": "3"}})
    service(cfg.changed, name = "docker", state = "restarted")`,
		Params: []Param{
			{Name: "config", Type: Dict, Required: true, Doc: "daemon.json settings (dockerd(8) --config-file keys)"},
			{Name: "mode", Type: String, Default: "merge", Choices: []string{"merge", "replace"}, Doc: "merge: set these top-level keys, keep the rest; replace: the file is exactly config"},
			{Name: "path", Type: String, Default: "/etc/docker/daemon.json", Doc: "the file to manage"},
			{Name: "restart", Type: Bool, Default: false, Doc: "restart Docker when the file changed, wait for it, roll back if it does not come up"},
			{Name: "validate", Type: Bool, Default: true, Doc: "check the new content with dockerd --validate where supported"},
			{Name: "restart_timeout", Type: Int, Default: int64(60), Doc: "seconds to wait for Docker to answer after a restart"},
		},
		Outputs: map[string]string{"restarted": "whether Docker was restarted", "backup": "path of the previous file, when one was kept"},
		Run:     runDaemonJSON,
	})
}

// daemonJSONNormalize turns any JSON-able value into the form encoding/json
// decodes to (float64 numbers, map[string]any), so values from the playbook
// and from the file compare with reflect.DeepEqual.
func daemonJSONNormalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return daemonJSONNumbers(out), nil
}

// daemonJSONNumbers replaces json.Number by a canonical string form so that
// 3, 3.0 and 3e0 are equal while large integers keep every digit.
func daemonJSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return daemonJSONNum(fmt.Sprintf("%v", f))
		}
		return daemonJSONNum(x.String())
	case map[string]any:
		for k, e := range x {
			x[k] = daemonJSONNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = daemonJSONNumbers(e)
		}
	}
	return v
}

// daemonJSONNum is a number in canonical text form.
type daemonJSONNum string

// daemonJSONParse decodes a daemon.json file; empty content is an empty object.
func daemonJSONParse(content string) (map[string]any, error) {
	if strings.TrimSpace(content) == "" {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(strings.NewReader(content))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return daemonJSONNumbers(m).(map[string]any), nil
}

// daemonJSONDesired computes the wanted document from the current one.
func daemonJSONDesired(current map[string]any, config map[string]any, merge bool) (map[string]any, error) {
	n, err := daemonJSONNormalize(config)
	if err != nil {
		return nil, err
	}
	cfg, _ := n.(map[string]any)
	if !merge {
		if cfg == nil {
			cfg = map[string]any{}
		}
		return cfg, nil
	}
	out := map[string]any{}
	for k, v := range current {
		out[k] = v
	}
	for k, v := range cfg {
		out[k] = v
	}
	return out, nil
}

// daemonJSONEncode renders the document: sorted keys, two-space indent.
func daemonJSONEncode(m map[string]any) ([]byte, error) {
	b, err := json.MarshalIndent(daemonJSONUnnum(m), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func daemonJSONUnnum(v any) any {
	switch x := v.(type) {
	case daemonJSONNum:
		return json.Number(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = daemonJSONUnnum(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = daemonJSONUnnum(e)
		}
		return out
	}
	return v
}

func runDaemonJSON(ctx context.Context, t *Target, p Params) (*Result, error) {
	path := p.String("path")
	merge := p.String("mode") != "replace"
	obs, err := daemonJSONObserve(ctx, t, path)
	if err != nil {
		return nil, err
	}
	current, perr := daemonJSONParse(obs.text)
	if perr != nil {
		if merge {
			return nil, fmt.Errorf("daemon_json: %s on %s is not valid JSON (%v); use mode = \"replace\" to overwrite it", path, t.Name, perr)
		}
		current = nil
	}
	desired, err := daemonJSONDesired(current, p.Dict("config"), merge)
	if err != nil {
		return nil, fmt.Errorf("daemon_json: config: %w", err)
	}
	res := &Result{Outputs: map[string]any{"restarted": false, "backup": ""}}
	plan := NewPlan("daemon_json", path+" already as wanted")
	if obs.exists && perr == nil && reflect.DeepEqual(current, desired) {
		return plan.Apply(ctx, t, res)
	}
	newText, err := daemonJSONEncode(desired)
	if err != nil {
		return nil, fmt.Errorf("daemon_json: config: %w", err)
	}
	plan.Add("update "+path, FileDiff(path, obs.text, string(newText)), func(ctx context.Context) error {
		if obs.exists {
			if err := hpWriteFile(ctx, t, path+".bak", []byte(obs.text), 0); err != nil {
				return fmt.Errorf("keeping the previous file as %s.bak: %w", path, err)
			}
			res.Outputs["backup"] = path + ".bak"
		}
		return hpWriteFile(ctx, t, path, newText, 0o644)
	})
	if p.Bool("restart") {
		timeout := p.Int("restart_timeout")
		if timeout <= 0 {
			timeout = 60
		}
		plan.Add("restart docker", "", func(ctx context.Context) error {
			if err := daemonJSONRestartOrRollBack(ctx, t, path, obs, timeout); err != nil {
				return err
			}
			res.Outputs["restarted"] = true
			return nil
		})
	}
	// Validate before touching anything (also in check mode: the input goes
	// through stdin, nothing is written).
	if p.Bool("validate") {
		note, err := daemonJSONValidate(ctx, t, path, newText)
		if err != nil {
			return nil, err
		}
		plan.Note(note)
	}
	return plan.Apply(ctx, t, res)
}

// daemonJSONObserved is the file (text, whether it exists) and whether
// the host runs systemd.
type daemonJSONObserved struct {
	text            string
	exists, systemd bool
}

// daemonJSONObserve reads the file and the init system in one round trip.
// Whether dockerd can validate is asked only when the file must change:
// `dockerd --help` on every run was a third of a no-op re-run.
func daemonJSONObserve(ctx context.Context, t *Target, path string) (daemonJSONObserved, error) {
	script := fmt.Sprintf(`if [ -e %s ]; then %s; %s; fi
%s; if %s; then echo systemd; fi
true`, Quote(path), hpSection("file"), hpCat(path), hpSection("init"), systemdRuns)
	out, err := Sh(ctx, t, script)
	if err != nil {
		return daemonJSONObserved{}, fmt.Errorf("daemon_json: reading %s: %w", path, err)
	}
	sec := hpSections(out)
	text, exists := sec["file"]
	return daemonJSONObserved{text: text, exists: exists, systemd: strings.TrimSpace(sec["init"]) == "systemd"}, nil
}

// daemonJSONValidate asks dockerd whether it accepts the new file; the
// result is a note for the message.
func daemonJSONValidate(ctx context.Context, t *Target, path string, newText []byte) (string, error) {
	r, err := t.Conn.Run(ctx, "dockerd --validate --config-file /dev/stdin", connection.RunOpts{Become: t.Become, Stdin: newText})
	if err != nil {
		return "", fmt.Errorf("daemon_json: validating: %w", err)
	}
	out := strings.TrimSpace(string(r.Stderr) + " " + string(r.Stdout))
	switch {
	case r.ExitCode == 0:
		return "validated by dockerd", nil
	case strings.Contains(out, "unknown flag") || r.ExitCode == 127:
		// Engines before 23.0 have no --validate (or no dockerd here).
		return "validation skipped: this dockerd has no --validate", nil
	}
	return "", fmt.Errorf("daemon_json: dockerd rejects the new %s: %s", path, out)
}

// daemonJSONRestartOrRollBack restarts Docker; when it does not come back
// it collects its log first (it holds the reason), then puts the old file
// back and starts it again. The step's context may be what ended the
// restart (its timeout, a Ctrl-C): the roll-back gets its own, or it would
// not run at all.
func daemonJSONRestartOrRollBack(ctx context.Context, t *Target, path string, obs daemonJSONObserved, timeout int64) error {
	err := daemonJSONRestart(ctx, t, obs.systemd, timeout)
	if err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(timeout+30)*time.Second)
	defer cancel()
	logs, _ := Sh(ctx, t, daemonJSONLogCmd(obs.systemd))
	var rb error
	if obs.exists {
		rb = hpWriteFile(ctx, t, path, []byte(obs.text), 0o644)
	} else {
		_, rb = Sh(ctx, t, "rm -f "+Quote(path))
	}
	state := "the previous file was restored and Docker restarted"
	if rb != nil {
		state = fmt.Sprintf("restoring the previous file FAILED: %v", rb)
	} else if rerr := daemonJSONRestart(ctx, t, obs.systemd, timeout); rerr != nil {
		state = fmt.Sprintf("the previous file was restored but Docker did not come back either: %v", rerr)
	}
	return fmt.Errorf("Docker did not come back after restart with the new %s (%v); %s. Engine log:\n%s", path, err, state, strings.TrimSpace(logs))
}

// daemonJSONRestart restarts Docker and waits until the engine answers.
func daemonJSONRestart(ctx context.Context, t *Target, systemd bool, timeout int64) error {
	restart := "service docker restart"
	if systemd {
		// After failed starts systemd refuses more ("start request repeated
		// too quickly"): the roll-back's restart would then fail too.
		restart = "systemctl reset-failed docker.service docker.socket 2>/dev/null; systemctl restart docker"
	}
	// The restart command may fail although the engine comes up later (or
	// succeed although it dies right after start): the engine answering its
	// API twice, 2 s apart, is what counts (engineProbe: no docker CLI needed).
	script := fmt.Sprintf(`ping_engine() %s
out=$(%s 2>&1); rc=$?
i=0; while [ $i -lt %d ]; do
  sleep 1
  if ping_engine; then
    sleep 2
    ping_engine && exit 0
  fi
  i=$((i+1))
done
echo "docker did not answer within %d s (restart command exited $rc: $(printf '%%s\n' "$out" | tail -n 3))" >&2
exit 1`, engineProbe(connection.DockerSocket, false), restart, timeout, timeout)
	_, err := Sh(ctx, t, script)
	return err
}

// daemonJSONLogCmd prints the engine's last log lines: its errors when there
// are any (the reason it stopped is one line among many info lines), else the
// tail.
func daemonJSONLogCmd(systemd bool) string {
	src := "tail -n 80 /var/log/docker.log 2>&1"
	if systemd {
		src = "journalctl -u docker -n 80 --no-pager 2>&1"
	}
	return `L=$(` + src + `)
E=$(printf '%s\n' "$L" | grep -Ei 'level=(error|fatal)|failed to start|unable to configure' | tail -n 5)
if [ -n "$E" ]; then printf '%s\n' "$E"; else printf '%s\n' "$L" | tail -n 10; fi`
}
