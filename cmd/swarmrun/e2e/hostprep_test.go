//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// hostprepNet is the lab network of these tests (198.18.6.0/24); the other
// e2e tests use 7, 8 and 9.
const hostprepNet = 6

// hpPlay runs a playbook of testdata/e2e/hostprep and returns its results.
// A failed host makes swarmrun exit non-zero; callers look at the statuses.
func hpPlay(t *testing.T, l *Lab, playbook string, args ...string) []PlayResult {
	t.Helper()
	pb := filepath.Join(repoRoot(t), "testdata", "e2e", "hostprep", playbook)
	r := l.Play(t, pb, append([]string{"--diff"}, args...)...)
	if len(r.Results) == 0 {
		t.Fatalf("play %s %v: no results:\n%s", playbook, args, r.Out)
	}
	return r.Results
}

// hpStatuses maps "task @ host" to status.
func hpStatuses(evs []PlayResult) map[string]string {
	m := map[string]string{}
	for _, e := range evs {
		m[e.Task+" @ "+e.Host] = e.Status
	}
	return m
}

func hpWith(m map[string]string, status string) []string {
	var out []string
	for k, v := range m {
		if v == status {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// hpSnapshot runs cmd on every host; used to prove --check touched nothing.
func hpSnapshot(t *testing.T, l *Lab, cmd string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, h := range l.Hosts {
		out, _ := l.SSH(h.Name, cmd)
		m[h.Name] = out
	}
	return m
}

// hpConform is the conformance run every module passes: --check predicts
// exactly the (task, host) pairs that then change, with the same change
// lists (hpSameChanges), and leaves the hosts as they were; the real run
// changes exactly those; a second run changes nothing; then verify checks
// the end state with independent commands.
func hpConform(t *testing.T, l *Lab, playbook string, args []string, snapshot string, verify func(t *testing.T, host string)) {
	t.Helper()
	before := hpSnapshot(t, l, snapshot)
	checkRun := hpPlay(t, l, playbook, append([]string{"--check"}, args...)...)
	check := hpStatuses(checkRun)
	if f := hpWith(check, "failed"); len(f) > 0 {
		t.Fatalf("%s --check failed: %v", playbook, f)
	}
	predicted := hpWith(check, "changed")
	if len(predicted) == 0 {
		t.Fatalf("%s --check predicts no change on fresh hosts: %v", playbook, check)
	}
	if after := hpSnapshot(t, l, snapshot); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("%s --check changed the hosts:\nbefore %v\nafter  %v", playbook, before, after)
	}
	t0 := time.Now()
	run := hpPlay(t, l, playbook, args...)
	st := hpStatuses(run)
	if f := hpWith(st, "failed"); len(f) > 0 {
		t.Fatalf("%s failed: %v\n%+v", playbook, f, run)
	}
	if got := hpWith(st, "changed"); strings.Join(got, "\n") != strings.Join(predicted, "\n") {
		t.Fatalf("%s: --check predicted\n%v\nbut the run changed\n%v", playbook, predicted, got)
	}
	hpSameChanges(t, playbook, checkRun, run)
	t.Logf("%s: changed %d task/host pairs in %s", playbook, len(predicted), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	again := hpStatuses(hpPlay(t, l, playbook, args...))
	if c := append(hpWith(again, "changed"), hpWith(again, "failed")...); len(c) > 0 {
		t.Fatalf("%s second run not clean: %v", playbook, again)
	}
	t.Logf("%s: no-op re-run in %s", playbook, time.Since(t0).Round(time.Millisecond))
	for _, h := range l.Hosts {
		verify(t, h.Name)
	}
}

// hpSameChanges: for each task @ host, --check and the real run report the
// same change list, in the module kit's wording (modules/kit.go): a real
// run's message is the list joined by ", ", --check's "would " and the same
// list, either followed by "; " and notes. A changed result without a list
// comes from a module off the kit.
func hpSameChanges(t *testing.T, playbook string, checkRun, run []PlayResult) {
	t.Helper()
	check := map[string]PlayResult{}
	for _, e := range checkRun {
		check[e.Task+" @ "+e.Host] = e
	}
	for _, e := range run {
		k, c := e.Task+" @ "+e.Host, check[e.Task+" @ "+e.Host]
		if e.Status == "changed" && len(e.Changes) == 0 {
			t.Errorf("%s: %s: changed (%q) without a change list", playbook, k, e.Msg)
		}
		list := strings.Join(e.Changes, ", ")
		if strings.Join(c.Changes, "\n") != strings.Join(e.Changes, "\n") {
			t.Errorf("%s: %s: --check reports %q, the run %q", playbook, k, c.Changes, e.Changes)
		} else if list != "" && (!hpWording(e.Msg, list) || !hpWording(c.Msg, "would "+list)) {
			t.Errorf("%s: %s: wording: --check %q, the run %q, changes %q", playbook, k, c.Msg, e.Msg, e.Changes)
		}
	}
}

// hpWording is modules/internal/kittest.Wording (internal to modules/): msg
// is the list, then optionally "; " and notes.
func hpWording(msg, list string) bool {
	return msg == list || strings.HasPrefix(msg, list+"; ")
}

// hpFails runs a playbook that must fail on every host with msg containing
// each of want (in check mode too when check is set).
func hpFails(t *testing.T, l *Lab, playbook string, args []string, want ...string) {
	t.Helper()
	for _, e := range hpPlay(t, l, playbook, args...) {
		if e.Status != "failed" {
			t.Errorf("%s %v on %s: status %s (%s), want failed", playbook, args, e.Host, e.Status, e.Msg)
			continue
		}
		for _, w := range want {
			if !strings.Contains(e.Msg, w) {
				t.Errorf("%s %v on %s: message %q lacks %q", playbook, args, e.Host, e.Msg, w)
			}
		}
	}
}

func hpContains(t *testing.T, l *Lab, host, cmd string, want ...string) {
	t.Helper()
	out := l.MustSSH(t, host, cmd)
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: `%s` lacks %q:\n%s", host, cmd, w, out)
		}
	}
}

func TestHostprep(t *testing.T) {
	l := startLab(t, hostprepNet, 2, true)
	for _, h := range l.Hosts {
		// The lab hosts share this machine's /root/.bashrc, whose pyenv init
		// runs `pyenv rehash` in every ssh session; parallel sessions race for
		// its lock file and a killed one leaves it behind, making every later
		// session wait 60 s. Not what these tests are about.
		l.MustSSH(t, h.Name, `[ -f /root/.bashrc ] && sed -i '/pyenv/d' /root/.bashrc; rm -f /root/.pyenv/shims/.pyenv-shim; true`)
	}
	h1 := l.Hosts[0].Name

	t.Run("sysctl", func(t *testing.T) {
		hpConform(t, l, "sysctl.star", []string{"-e", "somaxconn=8192"},
			"sysctl -n net.core.somaxconn net.ipv4.ip_local_port_range net.ipv4.tcp_max_syn_backlog; md5sum /etc/sysctl.d/99-swarmrun-e2e.conf 2>&1",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "sysctl -n net.core.somaxconn net.ipv4.ip_local_port_range net.ipv4.tcp_max_syn_backlog", "8192\n1024\t65000\n8192")
				hpContains(t, l, h, "cat /etc/sysctl.d/99-swarmrun-e2e.conf", "net.core.somaxconn = 8192\n", "net.ipv4.ip_local_port_range = 1024 65000\n")
			})
		hpFails(t, l, "sysctl_unknown.star", []string{"--check"}, "net.ipv4.no_such_key_swarmrun")
		hpFails(t, l, "sysctl_unknown.star", nil, "net.ipv4.no_such_key_swarmrun")
	})

	t.Run("limits", func(t *testing.T) {
		hpConform(t, l, "limits.star", nil, "md5sum /etc/security/limits.d/99-swarmrun-e2e.conf 2>&1",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "cat /etc/security/limits.d/99-swarmrun-e2e.conf", "* soft nofile 65536\n", "* hard nofile 65536\n", "root - nproc unlimited\n")
			})
	})

	t.Run("modprobe", func(t *testing.T) {
		hpConform(t, l, "modprobe.star", nil, "md5sum /etc/modules-load.d/swarmrun-e2e.conf /etc/modprobe.d/swarmrun-e2e.conf 2>&1",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "cat /etc/modules-load.d/swarmrun-e2e.conf", "br_netfilter\noverlay\nnf_conntrack\n")
				hpContains(t, l, h, "cat /etc/modprobe.d/swarmrun-e2e.conf", "options nf_conntrack hashsize=65536\n")
				// Built in: the bridge netfilter sysctls exist.
				hpContains(t, l, h, "ls /proc/sys/net/bridge/", "bridge-nf-call-iptables")
			})
		hpFails(t, l, "modprobe_missing.star", []string{"--check"}, "ip_vs", "CONFIG_IP_VS")
	})

	t.Run("ufw", func(t *testing.T) {
		hpContains(t, l, h1, "ufw status", "Status: inactive")
		// The guard refuses to enable a firewall without the SSH port.
		hpFails(t, l, "ufw_lockout.star", nil, "allow_lockout = True", "tcp port 22")
		hpContains(t, l, h1, "ufw status", "Status: inactive")
		hpConform(t, l, "ufw.star", nil, "ufw status verbose; md5sum /etc/ufw/user.rules /etc/ufw/user6.rules /etc/ufw/ufw.conf /etc/default/ufw",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "ufw status verbose", "Status: active", "Default: deny (incoming), allow (outgoing)",
					"22/tcp                     ALLOW IN    Anywhere                   # ssh",
					"2377/tcp                   ALLOW IN    198.18.0.0/16              # swarm managers",
					"7946                       ALLOW IN    Anywhere", "4789/udp", "60000:61000/udp")
				hpContains(t, l, h, "iptables -S ufw-user-input", "--dport 7946 -j ACCEPT")
			})
		// Enabled now: removing the SSH rule is refused too, and nothing changed.
		before := hpSnapshot(t, l, "md5sum /etc/ufw/user.rules")
		hpFails(t, l, "ufw_lockout.star", nil, "allow_lockout = True")
		if after := hpSnapshot(t, l, "md5sum /etc/ufw/user.rules"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("refused step changed user.rules")
		}
	})

	t.Run("daemon_json", func(t *testing.T) {
		hpConform(t, l, "daemon_json.star", nil, "md5sum /etc/docker/daemon.json 2>&1; pgrep -x dockerd",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "cat /etc/docker/daemon.json", `"max-size": "10m"`, `"metrics-addr": "127.0.0.1:9323"`)
				hpContains(t, l, h, "docker info --format '{{.LoggingDriver}}'", "json-file")
			})
		good := hpSnapshot(t, l, "md5sum /etc/docker/daemon.json")
		hpFails(t, l, "daemon_json_bad.star", nil, "did not come back", "previous file was restored", "no-such-driver")
		if after := hpSnapshot(t, l, "md5sum /etc/docker/daemon.json"); fmt.Sprint(after) != fmt.Sprint(good) {
			t.Errorf("daemon.json not rolled back:\n%v\n%v", good, after)
		}
		for _, h := range l.Hosts {
			hpContains(t, l, h.Name, "docker info --format 'driver={{.Driver}}'", "driver=overlay2")
		}
	})

	t.Run("service", func(t *testing.T) {
		svc := "/etc/init.d/swarmrun-e2e-svc"
		hpConform(t, l, "service.star", nil, "md5sum "+svc+" 2>&1; ls /etc/rc2.d/; "+svc+" status 2>&1",
			func(t *testing.T, h string) {
				hpContains(t, l, h, svc+" status", "swarmrun-e2e-svc is running")
				hpContains(t, l, h, "ls /etc/rc2.d/", "swarmrun-e2e-svc")
			})
	})

	t.Run("docker_user", func(t *testing.T) {
		hpConform(t, l, "docker_user.star", nil, "iptables -w -S DOCKER-USER 2>&1; md5sum /etc/ufw/after.rules 2>&1",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "iptables -w -S DOCKER-USER",
					"-A DOCKER-USER -s 198.18.6.0/24 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 18081 --ctdir ORIGINAL -j RETURN\n",
					"-A DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 18081 --ctdir ORIGINAL -j DROP\n")
				hpContains(t, l, h, "cat /etc/ufw/after.rules", "# BEGIN swarmrun DOCKER-USER", "# 18080/tcp e2e web: from any\n")
			})
	})

	t.Run("apt", func(t *testing.T) {
		hpFails(t, l, "apt_unknown.star", []string{"--check"}, "no-such-package-swarmrun")
		hpFails(t, l, "apt_unknown.star", nil, "no-such-package-swarmrun")
		hpConform(t, l, "apt.star", nil, "dpkg -s sl tree 2>&1 | grep -E '^Status|not installed'",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "dpkg -s sl tree | grep ^Status", "Status: install ok installed\nStatus: install ok installed")
			})
		// A held dpkg lock (apt uses fcntl locks, so flock(1) would not hold
		// it): the removal waits for it, then succeeds.
		l.MustSSH(t, h1, `nohup /usr/bin/python3 -c 'import fcntl,time; f=open("/var/lib/dpkg/lock-frontend","w"); fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(8)' >/dev/null 2>&1 & sleep 1; true`)
		t0 := time.Now()
		st := hpStatuses(hpPlay(t, l, "apt.star", "-l", h1, "-e", "state=absent"))
		if len(hpWith(st, "changed")) != 1 {
			t.Fatalf("removal under a held lock: %v", st)
		}
		if d := time.Since(t0); d < 5*time.Second {
			t.Errorf("removal took %s: it did not wait for the lock", d)
		}
		hpContains(t, l, h1, "dpkg -s sl 2>&1 | head -2; true", "is not installed")
	})

	t.Run("apt_repository", func(t *testing.T) {
		hpConform(t, l, "apt_repository.star", nil, "md5sum /etc/apt/sources.list.d/swarmrun-e2e-backports.sources /etc/apt/keyrings/swarmrun-e2e-backports.asc 2>&1",
			func(t *testing.T, h string) {
				hpContains(t, l, h, "cat /etc/apt/sources.list.d/swarmrun-e2e-backports.sources", "Suites: bookworm-backports\n", "Signed-By: /etc/apt/keyrings/swarmrun-e2e-backports.asc\n")
				hpContains(t, l, h, "apt-cache policy", "bookworm-backports/main amd64 Packages")
			})
		hpConform(t, l, "apt_repository.star", []string{"-e", "state=absent"}, "ls /etc/apt/sources.list.d/ /etc/apt/keyrings/",
			func(t *testing.T, h string) {
				if out := l.MustSSH(t, h, "ls /etc/apt/sources.list.d/ /etc/apt/keyrings/"); strings.Contains(out, "swarmrun-e2e") {
					t.Errorf("%s: files left: %s", h, out)
				}
			})
	})
}
