//go:build e2e

package e2e

// The swarm modules end to end on a 3-host lab (1 manager, 2 workers):
// testdata/e2e/swarm/swarm.star forms the swarm, labels the nodes, creates an
// encrypted attachable overlay network, a rotated secret, a config and a
// 3-replica stack placed on a node label. --check must predict exactly what
// the real run changes, a second run changes nothing (no service version
// bump), a new secret value rolls the service onto a new secret version, and
// a worker that belongs to another swarm is refused unless forced. The end
// state is checked independently with the docker CLI over ssh.

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const swarmNet = 33 // 198.18.33.0/24; other e2e tests use 7-9 and 250-252

// playRun is a PlayRun with the swarm tests' views of it.
type playRun struct{ *PlayRun }

// changed returns "task@host" of every changed result, sorted.
func (r playRun) changed() []string {
	var c []string
	for _, e := range r.Results {
		if e.Status == "changed" {
			c = append(c, e.Task+"@"+e.Host)
		}
	}
	sort.Strings(c)
	return c
}

func (r playRun) find(module, host string) []PlayResult {
	var out []PlayResult
	for _, e := range r.Results {
		if e.Module == module && (host == "" || e.Host == host) {
			out = append(out, e)
		}
	}
	return out
}

func (r playRun) failed() []PlayResult {
	var out []PlayResult
	for _, e := range r.Results {
		if e.Status == "failed" || e.Status == "unreachable" {
			out = append(out, e)
		}
	}
	return out
}

// play runs a playbook of testdata/e2e/swarm with JSON output; password is
// the secret's value (APP_PASSWORD), which must never be printed.
func play(t *testing.T, l *Lab, playbook, password string, args ...string) playRun {
	t.Helper()
	t.Setenv("APP_PASSWORD", password)
	t0 := time.Now()
	pb := e2eData(t, "swarm", playbook)
	r := playRun{l.Play(t, pb, append([]string{"--diff", "-e", l.ImageVar()}, args...)...)}
	if strings.Contains(r.Out, password) {
		t.Errorf("the secret value appears in the output of %s", playbook)
	}
	t.Logf("play %s %v: %s, %d results, changed %v", playbook, args, time.Since(t0).Round(time.Millisecond), len(r.Results), r.changed())
	return r
}

func mustPlay(t *testing.T, l *Lab, playbook, password string, args ...string) playRun {
	t.Helper()
	r := play(t, l, playbook, password, args...)
	if r.Err != nil || len(r.failed()) > 0 {
		t.Fatalf("play %s %v: %v %+v\n%s", playbook, args, r.Err, r.failed(), r.Out)
	}
	return r
}

func serviceVersion(t *testing.T, l *Lab) int {
	t.Helper()
	v, err := strconv.Atoi(trim(l.MustSSH(t, "h1", "docker service inspect web_web --format '{{.Version.Index}}'")))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSwarmModules(t *testing.T) {
	l := startLab(t, swarmNet, 3, true)

	// 1. --check predicts, touching nothing.
	check := mustPlay(t, l, "swarm.star", "pw-one", "--check")
	if out := l.MustSSH(t, "h1", "docker info --format '{{.Swarm.LocalNodeState}}'"); trim(out) != "inactive" {
		t.Fatalf("--check changed the swarm state: %s", out)
	}
	// 2. The real run changes exactly what --check predicted.
	first := mustPlay(t, l, "swarm.star", "pw-one")
	samePrediction(t, "swarm.star", check.PlayRun, first.PlayRun)
	if len(first.changed()) < 10 {
		t.Errorf("first run changed too little: %v", first.changed())
	}

	// 3. Independent checks of the end state.
	nodes := l.MustSSH(t, "h1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}' | sort")
	if trim(nodes) != "h1 Ready Active Leader\nh2 Ready Active \nh3 Ready Active" {
		t.Errorf("nodes:\n%s", nodes)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if out := l.MustSSH(t, "h1", "docker node inspect "+h+" --format '{{index .Spec.Labels \"role\"}}'"); trim(out) != "web" {
			t.Errorf("label of %s: %q", h, out)
		}
	}
	netOut := l.MustSSH(t, "h1", "docker network inspect appnet --format '{{.Driver}} {{.Scope}} {{.Attachable}} {{index .Options \"encrypted\"}}|{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}'")
	if trim(netOut) != "overlay swarm true |10.42.0.0/24 10.42.0.1" {
		t.Errorf("network: %q", netOut)
	}
	ps := l.MustSSH(t, "h1", "docker service ps web_web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' | sort")
	if lines := strings.Split(trim(ps), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "h1 Running") || !strings.HasPrefix(lines[1], "h2 Running") || !strings.HasPrefix(lines[2], "h3 Running") {
		t.Errorf("service tasks:\n%s", ps)
	}
	for _, h := range l.Hosts {
		eventually(t, 30*time.Second, "web on "+h.Name, func() error {
			out, err := runCmd(10*time.Second, "curl", "-sf", "http://"+h.Addr+":18080/")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if !strings.Contains(out, `"secrets":["app_password"]`) {
				return fmt.Errorf("secret not mounted: %s", out)
			}
			return nil
		})
	}
	version := serviceVersion(t, l)

	// 4. Again, and under --check: nothing changes, no service update.
	for _, args := range [][]string{{"--check"}, nil} {
		again := mustPlay(t, l, "swarm.star", "pw-one", args...)
		if c := again.changed(); len(c) != 0 {
			t.Errorf("re-run %v changed %v\n%s", args, c, again.Out)
		}
	}
	if v := serviceVersion(t, l); v != version {
		t.Errorf("service version %d -> %d on an unchanged re-run", version, v)
	}

	// 5. A new secret value: --check predicts a new version and a service
	// update, the run does exactly that.
	rcheck := mustPlay(t, l, "swarm.star", "pw-two", "--check")
	rot := mustPlay(t, l, "swarm.star", "pw-two")
	samePrediction(t, "rotation", rcheck.PlayRun, rot.PlayRun)
	if len(rot.changed()) != 2 {
		t.Errorf("rotation changed %v, want a new version and a service update", rot.changed())
	}
	if st := rot.find("stack", "h1"); len(st) != 1 || !strings.Contains(st[0].Diff, `SecretName: "app_password" -> "app_password_v2"`) {
		t.Errorf("stack diff on rotation: %+v", st)
	}
	secrets := l.MustSSH(t, "h1", "docker service inspect web_web --format '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}'")
	if trim(secrets) != "app_password_v2" {
		t.Errorf("service secret after rotation: %q", secrets)
	}
	if v := serviceVersion(t, l); v == version {
		t.Error("service not updated after rotation")
	}
	ps = l.MustSSH(t, "h1", "docker service ps web_web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}'")
	if strings.Count(ps, "Running") != 3 {
		t.Errorf("after rotation:\n%s", ps)
	}
	if again := mustPlay(t, l, "swarm.star", "pw-two"); len(again.changed()) != 0 {
		t.Errorf("re-run after rotation changed %v", again.changed())
	}

	// 6. h3 in another swarm: refused without force, rejoined with it.
	l.MustSSH(t, "h3", "docker swarm leave --force && docker swarm init --advertise-addr "+l.Host(t, "h3").Addr+" >/dev/null")
	other := play(t, l, "join.star", "pw-two")
	if f := other.failed(); other.Err == nil || len(f) != 1 || f[0].Host != "h3" || !strings.Contains(f[0].Msg, "another swarm") || !strings.Contains(f[0].Msg, "force") {
		t.Fatalf("joined to another swarm: want h3 to fail clearly, got %v %+v\n%s", other.Err, f, other.Out)
	}
	if j := other.find("swarm_join", "h2"); len(j) != 1 || j[0].Status != "ok" {
		t.Errorf("h2 should be untouched: %+v", j)
	}
	forced := mustPlay(t, l, "join.star", "pw-two", "-e", "force_join=true")
	if c := forced.changed(); len(c) != 1 || !strings.HasSuffix(c[0], "@h3") {
		t.Errorf("forced join changed %v", c)
	}
	// The full playbook labels the new h3 node and the stack converges again.
	mustPlay(t, l, "swarm.star", "pw-two")
	// The stack is unchanged (no wait); the swarm reschedules the task that
	// h3 lost on its own, which takes a moment on a loaded machine.
	eventually(t, 90*time.Second, "a task running on the rejoined h3", func() error {
		ps := l.MustSSH(t, "h1", "docker service ps web_web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' | sort")
		if strings.Count(ps, "Running") != 3 || !strings.Contains(ps, "h3 Running") {
			return fmt.Errorf("after h3 rejoined:\n%s", ps)
		}
		return nil
	})
	if again := mustPlay(t, l, "swarm.star", "pw-two"); len(again.changed()) != 0 {
		t.Errorf("final re-run changed %v", again.changed())
	}
}

// TestSwarmThreeManagers: managers join with the manager token, a re-run
// changes nothing, and the node module demotes/promotes and drains a node,
// waiting until it is a reachable manager again / has no tasks.
func TestSwarmThreeManagers(t *testing.T) {
	l := startLab(t, swarmNet+1, 3, true)
	// The same hosts, all in the managers group.
	l.Inventory = l.InventoryWith(t, filepath.Join(l.Dir, "inventory-3-managers"), func(inv string) string {
		return strings.Replace(strings.Replace(inv, "[workers]\n", "", 1), "[managers]\n", "[managers]\n", 1)
	})

	check := mustPlay(t, l, "managers.star", "unused", "--check")
	first := mustPlay(t, l, "managers.star", "unused")
	samePrediction(t, "managers.star", check.PlayRun, first.PlayRun)
	mgrs := l.MustSSH(t, "h1", "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}' | sort")
	if trim(mgrs) != "h1 Leader\nh2 Reachable\nh3 Reachable" {
		t.Errorf("managers:\n%s", mgrs)
	}
	if again := mustPlay(t, l, "managers.star", "unused"); len(again.changed()) != 0 {
		t.Errorf("re-run changed %v", again.changed())
	}
	// Demote h3, then promote it again (waiting until reachable).
	demote := mustPlay(t, l, "managers.star", "unused", "-e", "h3_role=worker")
	if c := demote.changed(); len(c) != 1 || !strings.HasPrefix(c[0], "h3@") {
		t.Errorf("demote changed %v", c)
	}
	if out := l.MustSSH(t, "h1", "docker node inspect h3 --format '{{.Spec.Role}}'"); trim(out) != "worker" {
		t.Errorf("h3 role %q", out)
	}
	mustPlay(t, l, "managers.star", "unused", "-e", "h3_role=manager")
	if out := l.MustSSH(t, "h1", "docker node inspect h3 --format '{{.Spec.Role}} {{.ManagerStatus.Reachability}}'"); trim(out) != "manager reachable" {
		t.Errorf("h3 after promotion %q", out)
	}
	// Drain h3 with a service running everywhere: the step returns when
	// h3 runs no task.
	l.MustSSH(t, "h1", "docker service create -d --name everywhere --mode global --stop-grace-period 1s swarmrun/testweb:latest >/dev/null")
	eventually(t, 60*time.Second, "global service on h3", func() error {
		out, _ := l.SSH("h1", "docker service ps everywhere --filter node=h3 --filter desired-state=running --format '{{.CurrentState}}'")
		if !strings.Contains(out, "Running") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	mustPlay(t, l, "managers.star", "unused", "-e", "h3_availability=drain")
	if out := l.MustSSH(t, "h3", "docker ps -q | wc -l"); trim(out) != "0" {
		t.Errorf("containers still on drained h3: %s", out)
	}
	if again := mustPlay(t, l, "managers.star", "unused", "-e", "h3_availability=drain"); len(again.changed()) != 0 {
		t.Errorf("drain re-run changed %v", again.changed())
	}
}
