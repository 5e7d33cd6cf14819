//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// freshSnapshot is what --check must leave as it found on a fresh host
// (no docker CLI there: Debian 13's docker.io has none).
const freshSnapshot = `
for f in /etc/ufw/user.rules /etc/sysctl.d/99-docker-swarm.conf /etc/modules-load.d/docker-swarm.conf \
         /etc/security/limits.d/99-docker-swarm.conf /etc/docker/daemon.json; do
  [ -e "$f" ] && sha256sum "$f" || echo "absent $f"
done
dpkg-query -W -f='${Package} ${Status}\n' docker.io ufw 2>&1
sysctl -n net.core.somaxconn
systemctl is-active docker 2>&1 || true
`

// nodesScript prints "hostname state leader" per swarm node, asking the
// engine's API with python3 (there is no docker CLI on Debian 13).
const nodesScript = `python3 - <<'PY'
import socket, json
s = socket.socket(socket.AF_UNIX); s.connect("/var/run/docker.sock")
s.sendall(b"GET /nodes HTTP/1.0\r\nHost: d\r\n\r\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
for n in sorted(json.loads(d.split(b"\r\n\r\n", 1)[1]), key=lambda n: n["Description"]["Hostname"]):
    print(n["Description"]["Hostname"], n["Status"]["State"], (n.get("ManagerStatus") or {}).get("Leader", False))
PY`

func TestFreshDebian13(t *testing.T) { testFresh(t, "debian-13", 20, true) }
func TestFreshDebian12(t *testing.T) { testFresh(t, "debian-12", 21, false) }

// testFresh is the day-one path on hosts like new cloud VMs (systemd as PID
// 1, sudo user admin, root login refused, no Docker): site.star --check
// predicts exactly and touches nothing; the run installs Docker and ufw and
// forms a swarm whose web stack answers; a second run changes nothing; every
// host reboots and everything is back (sysctls, ufw, Docker, nodes Ready,
// the stack answering); a third run changes nothing. With more, the service
// module and daemon_json's roll-back are proven on systemd too.
func testFresh(t *testing.T, distro string, net int, more bool) {
	// Mostly waiting for apt and reboots: runs beside the other fresh tests
	// once the sequential ones (the timing-sensitive live tests) are done.
	t.Parallel()
	l := startLabArgs(t, net, 3, "--fresh", "--distro", distro)
	site := playbook(t, "site.star")
	secrets := l.WebSecret("e2e-fresh-value-0001")
	if out, err := runCmd(time.Minute, "ssh", append(l.SSHArgsAs("root", "h1"), "true")...); err == nil {
		t.Errorf("root login was accepted on a fresh host: %s", out)
	}

	check := l.MustCheck(t, freshSnapshot, site, secrets...)
	t0 := time.Now()
	run := l.MustPlay(t, site, secrets...)
	t.Logf("%s: site.star from nothing to a swarm in %s", distro, time.Since(t0).Round(time.Second))
	samePrediction(t, distro, check, run)
	if strings.Contains(check.Out+run.Out, "e2e-fresh-value-0001") {
		t.Fatal("the secret value was printed")
	}
	freshHealthy(t, l, "after the first run")
	if again := l.MustPlay(t, site, secrets...); len(again.With("changed")) != 0 {
		t.Errorf("second run changed %v", again.With("changed"))
	}

	t0 = time.Now()
	if out, err := l.Swarmrun("lab", "reboot", "--dir", l.Dir, "h1", "h2", "h3"); err != nil {
		t.Fatalf("lab reboot: %v\n%s", err, out)
	}
	t.Logf("%s: every host rebooted and back in %s", distro, time.Since(t0).Round(time.Second))
	status, _ := l.Swarmrun("lab", "status", "--dir", l.Dir)
	for _, h := range l.Hosts {
		if !strings.Contains(status, fmt.Sprintf("%s ", h.Name)) || !strings.Contains(status, " 2     running") {
			t.Errorf("lab status after reboot (boots 2, running):\n%s", status)
		}
	}
	freshHealthy(t, l, "after the reboot")
	if third := l.MustPlay(t, site, secrets...); len(third.With("changed")) != 0 {
		t.Errorf("run after the reboot changed %v", third.With("changed"))
	}
	if more {
		t.Run("service", func(t *testing.T) { freshService(t, l) })
		t.Run("daemon_json rollback", func(t *testing.T) { freshDaemonJSONRollback(t, l) })
	}
}

// freshHealthy: the kernel settings in force, ufw active, Docker running,
// every node Ready, and the web stack answering on two hosts.
func freshHealthy(t *testing.T, l *Lab, when string) {
	t.Helper()
	for _, h := range l.Hosts {
		out := l.MustSSH(t, h.Name, "sysctl -n net.core.somaxconn; ufw status | head -1; systemctl is-active docker")
		if want := "65536\nStatus: active\nactive\n"; out != want {
			t.Errorf("%s %s: %q, want %q", when, h.Name, out, want)
		}
	}
	eventually(t, 90*time.Second, when+": every node Ready", func() error {
		out, err := l.SSH("h1", nodesScript)
		if want := "h1 ready True\nh2 ready False\nh3 ready False\n"; err != nil || out != want {
			return fmt.Errorf("nodes %q (%v), want %q", out, err, want)
		}
		return nil
	})
	eventually(t, 2*time.Minute, when+": the web stack answers on two hosts", func() error {
		answered := 0
		for _, h := range l.Hosts {
			c := http.Client{Timeout: 2 * time.Second}
			resp, err := c.Get("http://" + h.Addr + ":8080/")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"secret":true`) {
				answered++
			}
		}
		if answered != 2 {
			return fmt.Errorf("%d hosts answered", answered)
		}
		return nil
	})
}

// freshService proves the service module on systemd.
func freshService(t *testing.T, l *Lab) {
	pb := e2eData(t, "fresh", "service.star")
	state := func() string {
		return l.MustSSH(t, "h1", "systemctl is-active swarmrun-demo; systemctl is-enabled swarmrun-demo; systemctl show -p Description --value swarmrun-demo")
	}
	conform := func(want string, args ...string) {
		t.Helper()
		before := state()
		check := l.MustPlay(t, pb, append(args, "--check")...)
		if after := state(); after != before {
			t.Errorf("--check %v changed the service: %q -> %q", args, before, after)
		}
		run := l.MustPlay(t, pb, args...)
		if !reflect.DeepEqual(sorted(check.With("changed")), sorted(run.With("changed"))) || len(run.With("changed")) == 0 {
			t.Errorf("%v: --check predicted %v, the run changed %v", args, check.With("changed"), run.With("changed"))
		}
		if got := state(); got != want {
			t.Errorf("%v: state %q, want %q", args, got, want)
		}
		if again := l.MustPlay(t, pb, args...); len(again.With("changed")) != 0 {
			t.Errorf("%v: second run changed %v", args, again.With("changed"))
		}
	}
	conform("active\nenabled\nswarmrun demo rev 1\n")
	conform("active\nenabled\nswarmrun demo rev 2\n", "-e", "rev=2") // daemon-reload, then the new unit
	conform("inactive\ndisabled\nswarmrun demo rev 2\n", "-e", "rev=2", "-e", "state=stopped", "-e", "enabled=false")
	// restarted and reloaded always act (as Ansible's): one change each.
	for _, st := range []string{"restarted", "reloaded"} {
		pid := l.MustSSH(t, "h1", "systemctl show -p MainPID --value swarmrun-demo")
		run := l.Play(t, pb, "-e", "rev=2", "-e", "state="+st, "-e", "enabled=false")
		if run.Err != nil || len(run.With("changed")) != 1 || state() != "active\ndisabled\nswarmrun demo rev 2\n" {
			t.Errorf("%s: %v %v %q\n%s", st, run.Err, run.With("changed"), state(), run.Out)
		}
		after := l.MustSSH(t, "h1", "systemctl show -p MainPID --value swarmrun-demo")
		if (st == "restarted") == (after == pid) {
			t.Errorf("%s: main PID %s -> %s", st, trim(pid), trim(after))
		}
	}

	l.MustSSH(t, "h1", "systemctl mask swarmrun-masked.service")
	masked := l.Play(t, e2eData(t, "fresh", "masked.star"))
	if masked.Err == nil || !strings.Contains(masked.Out, "service swarmrun-masked is masked") {
		t.Errorf("masked unit: %v\n%s", masked.Err, masked.Out)
	}
}

// freshDaemonJSONRollback: a daemon.json that stops dockerd is rolled back
// through systemctl and Docker is running again.
func freshDaemonJSONRollback(t *testing.T, l *Lab) {
	good := l.MustSSH(t, "h3", "sha256sum /etc/docker/daemon.json")
	run := l.Play(t, e2eData(t, "hostprep", "daemon_json_bad.star"), "-l", "h3")
	if run.Err == nil || !strings.Contains(run.Out, "previous file was restored and Docker restarted") {
		t.Errorf("bad daemon.json: %v\n%s", run.Err, run.Out)
	}
	if after := l.MustSSH(t, "h3", "sha256sum /etc/docker/daemon.json; systemctl is-active docker"); after != good+"active\n" {
		t.Errorf("after roll-back: %q, want %q", after, good+"active\n")
	}
}
