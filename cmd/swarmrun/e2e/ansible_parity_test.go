//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// parityNet is the lab network of TestAnsibleParity (198.18.36.0/24).
const parityNet = 36

// The files both playbooks of testdata/e2e/parity manage.
const (
	paritySysctlFile  = "/etc/sysctl.d/99-parity.conf"
	parityModulesLoad = "/etc/modules-load.d/parity.conf"
	parityModprobe    = "/etc/modprobe.d/parity.conf"
	parityLimits      = "/etc/security/limits.d/99-parity.conf"
	parityDaemonJSON  = "/etc/docker/daemon.json"
)

var (
	paritySysctlKeys = []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_fin_timeout",
		"net.ipv4.tcp_keepalive_time", "net.ipv4.ip_local_port_range", "net.ipv4.ip_forward"}
	parityPackages = []string{"ufw", "iptables", "openssh-server"}
)

// paritySeed is the same earlier, hand-made state on both hosts, so the tools
// must edit files rather than only create them: a sysctl file with a comment
// and two of the keys at other values (one spaced the way sysctl allows, one
// set twice), a modules-load file with one of the modules, a limits file with
// a tab-separated line for one entry and a line with a trailing comment (which
// pam_limits ignores) for another, a daemon.json with other keys,
// and two ufw rules: the SSH rule without its comment and one the playbooks
// do not mention.
const paritySeed = `set -e
printf '# local tuning, kept\nnet.core.somaxconn=1024\n  net.ipv4.tcp_fin_timeout = 45 \nnet.core.somaxconn = 2048\n' > ` + paritySysctlFile + `
printf 'overlay\n' > ` + parityModulesLoad + `
printf '# site limits\n*\tsoft\tnofile\t1024\n*  hard  nofile  4096   # raised below\n' > ` + parityLimits + `
mkdir -p /etc/docker
printf '{"debug": true, "log-driver": "journald"}\n' > ` + parityDaemonJSON + `
ufw allow 22/tcp >/dev/null
ufw allow 8080/tcp comment 'legacy app' >/dev/null
`

// TestAnsibleParity: the same host preparation written for swarmrun
// (testdata/e2e/parity/prep.star) and for Ansible (prep.yml: apt,
// community.general.ufw, ansible.posix.sysctl, copy, lineinfile) leaves two
// lab hosts that start from the same state in the same end state: firewall
// (rules with comments, defaults, logging, state, live chains), live sysctl
// values, and the managed files compared the way their readers see them.
// swarmrun runs on h1, Ansible on h2, at the same time. A second run of
// swarmrun changes nothing; Ansible's second-run changed count is logged.
func TestAnsibleParity(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Skip("ansible-playbook is not installed (Debian package ansible)")
	}
	l := startLab(t, parityNet, 2, false)
	dir := e2eData(t, "parity")
	// Ansible's SSH masters (ControlPersist) live in a directory of this
	// test; they are ended before the lab goes down (cleanups run LIFO).
	cpDir := t.TempDir()
	t.Cleanup(func() { parityEndMasters(t, cpDir) })

	swHost, anHost := l.Hosts[0].Name, l.Hosts[1].Name
	for _, h := range l.Hosts {
		// See TestHostprep: the machine's /root/.bashrc runs pyenv in every
		// ssh session, which makes parallel sessions wait on its lock.
		l.MustSSH(t, h.Name, `[ -f /root/.bashrc ] && sed -i '/pyenv/d' /root/.bashrc; rm -f /root/.pyenv/shims/.pyenv-shim; true`)
		l.MustSSH(t, h.Name, paritySeed)
	}
	if a, b := parityState(t, l, swHost), parityState(t, l, anHost); !reflect.DeepEqual(a, b) {
		t.Fatalf("the hosts differ before the runs:\n%s", parityDiff(a, b, swHost, anHost))
	}

	// First runs, at the same time on their own hosts.
	sw, an := parityRunBoth(t, l, dir, cpDir, swHost, anHost)
	if sw.Err != nil || len(sw.With("failed")) > 0 {
		t.Fatalf("swarmrun on %s: %v, failed %v\n%s", swHost, sw.Err, sw.With("failed"), sw.Out)
	}
	if len(sw.With("changed")) == 0 {
		t.Fatalf("swarmrun on %s changed nothing on a seeded host:\n%s", swHost, sw.Out)
	}
	for _, r := range sw.Results {
		if r.Host != swHost {
			t.Fatalf("swarmrun --limit %s ran on %s", swHost, r.Host)
		}
	}
	if an.err != nil || an.recap.failed > 0 || an.recap.unreachable > 0 || an.recap.changed == 0 {
		t.Fatalf("ansible-playbook on %s: %v, recap %+v\n%s", anHost, an.err, an.recap, an.out)
	}
	t.Logf("first run: swarmrun %s (%d changed steps), ansible %s (%+v)",
		sw.dur.Round(time.Millisecond), len(sw.With("changed")), an.dur.Round(time.Millisecond), an.recap)

	a, b := parityState(t, l, swHost), parityState(t, l, anHost)
	parityCheckAbsolute(t, swHost, a)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("end states differ (swarmrun on %s, Ansible on %s):\n%s", swHost, anHost, parityDiff(a, b, swHost, anHost))
	}
	dj, _ := a.DaemonJSON.(map[string]any)
	t.Logf("end states equal: %d ufw status lines, %d sysctl keys, %d modules-load, %d limits lines, %d daemon.json keys",
		len(strings.Split(a.UfwStatus, "\n")), len(a.SysctlFile), len(a.ModulesLoad), len(a.Limits), len(dj))

	// Second runs: swarmrun must report nothing to do.
	sw, an = parityRunBoth(t, l, dir, cpDir, swHost, anHost)
	if sw.Err != nil || len(sw.With("failed")) > 0 || len(sw.With("changed")) > 0 {
		t.Errorf("swarmrun second run on %s not clean: %v, changed %v, failed %v\n%s", swHost, sw.Err, sw.With("changed"), sw.With("failed"), sw.Out)
	}
	if an.err != nil || an.recap.failed > 0 || an.recap.unreachable > 0 {
		t.Fatalf("ansible-playbook second run on %s: %v, recap %+v\n%s", anHost, an.err, an.recap, an.out)
	}
	t.Logf("second run: swarmrun %s (%d changed), ansible %s (changed=%d, ok=%d)",
		sw.dur.Round(time.Millisecond), len(sw.With("changed")), an.dur.Round(time.Millisecond), an.recap.changed, an.recap.ok)
	if a2, b2 := parityState(t, l, swHost), parityState(t, l, anHost); !reflect.DeepEqual(a2, a) || !reflect.DeepEqual(b2, b) {
		t.Errorf("second runs altered the end state:\nswarmrun host:\n%s\nansible host:\n%s",
			parityDiff(a, a2, "first", "second"), parityDiff(b, b2, "first", "second"))
	}
}

type parityRecap struct{ ok, changed, unreachable, failed int }

type parityAnsibleRun struct {
	out   string
	err   error
	recap parityRecap
	dur   time.Duration
}

type paritySwarmrunRun struct {
	*PlayRun
	dur time.Duration
}

// parityRunBoth runs prep.star on swHost and prep.yml on anHost in parallel.
func parityRunBoth(t *testing.T, l *Lab, dir, cpDir, swHost, anHost string) (paritySwarmrunRun, parityAnsibleRun) {
	t.Helper()
	var sw paritySwarmrunRun
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		sw.PlayRun = l.Play(t, filepath.Join(dir, "prep.star"), "--limit", swHost)
		sw.dur = time.Since(t0)
	}()
	an := parityAnsible(l, dir, cpDir, anHost)
	wg.Wait()
	return sw, an
}

var parityRecapRe = regexp.MustCompile(`(?m)^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// parityAnsible runs ansible-playbook with the lab's inventory (Ansible INI,
// key and known_hosts in ansible_ssh_common_args) limited to host.
func parityAnsible(l *Lab, dir, cpDir, host string) parityAnsibleRun {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", l.Inventory, "--limit", host, filepath.Join(dir, "prep.yml"))
	cmd.Env = append(os.Environ(),
		"ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"),
		"ANSIBLE_HOST_KEY_CHECKING=True",
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+cpDir,
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0")
	cmd.WaitDelay = 5 * time.Second
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	r := parityAnsibleRun{out: string(out), err: err, dur: time.Since(t0)}
	found := false
	for _, m := range parityRecapRe.FindAllStringSubmatch(r.out, -1) {
		if m[1] != host {
			r.err = fmt.Errorf("recap names host %s, want only %s", m[1], host)
			continue
		}
		found = true
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		r.recap = parityRecap{ok: n(2), changed: n(3), unreachable: n(4), failed: n(5)}
	}
	if !found && r.err == nil {
		r.err = fmt.Errorf("no PLAY RECAP line for %s", host)
	}
	return r
}

// parityEndMasters ends the SSH control masters Ansible left in dir.
func parityEndMasters(t *testing.T, dir string) {
	socks, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, s := range socks {
		if out, err := runCmd(30*time.Second, "ssh", "-o", "ControlPath="+s, "-O", "exit", "parity-master"); err != nil {
			t.Logf("ending ssh master %s: %v: %s", s, err, trim(out))
		}
	}
}

// parityHostState is what the comparison looks at, each part in the form
// its reader sees it.
type parityHostState struct {
	UfwStatus   string            // `ufw status verbose`: state, logging, defaults, rules with comments, in order
	UfwChains   string            // live iptables/ip6tables ufw-user-input chains
	SysctlLive  map[string]string // sysctl -n KEY, whitespace-normalised
	SysctlFile  map[string]string // key = value pairs as sysctl reads them (last one wins)
	ModulesLoad []string          // module names, in order, comments dropped
	Modprobe    []string          // modprobe.d lines, whitespace-normalised, comments dropped
	Limits      []string          // limits entries as pam_limits reads them: text from '#' on dropped, whitespace-normalised
	DaemonJSON  any               // parsed
	Packages    string            // dpkg-query package, status, version
	Modes       string            // mode and owner of the managed files
}

// parityState reads a host's state in one ssh session.
func parityState(t *testing.T, l *Lab, host string) parityHostState {
	t.Helper()
	files := strings.Join([]string{paritySysctlFile, parityModulesLoad, parityModprobe, parityLimits, parityDaemonJSON}, " ")
	script := "export LC_ALL=C\n" +
		"echo '@@ufw'; ufw status verbose\n" +
		"echo '@@chains'; iptables -S ufw-user-input; ip6tables -S ufw6-user-input\n" +
		"echo '@@sysctl'; for k in " + strings.Join(paritySysctlKeys, " ") + "; do echo \"$k=$(sysctl -n $k)\"; done\n" +
		"echo '@@sysctlfile'; cat " + paritySysctlFile + "\n" +
		"echo '@@modulesload'; cat " + parityModulesLoad + "\n" +
		"echo '@@modprobe'; cat " + parityModprobe + "\n" +
		"echo '@@limits'; cat " + parityLimits + "\n" +
		"echo '@@daemonjson'; cat " + parityDaemonJSON + "\n" +
		"echo '@@packages'; dpkg-query -W -f '${Package} ${Status} ${Version}\\n' " + strings.Join(parityPackages, " ") + "\n" +
		"echo '@@modes'; stat -c '%n %a %U:%G' " + files + " 2>&1; true\n"
	// One stream: stderr interleaved with stdout would break the sections.
	out := l.MustSSH(t, host, "{\n"+script+"} 2>&1")
	sec := map[string]string{}
	var cur string
	for _, line := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "@@"); ok && !strings.Contains(name, " ") {
			cur = name
			continue
		}
		sec[cur] += line
	}
	s := parityHostState{
		UfwStatus:   trim(sec["ufw"]),
		UfwChains:   trim(sec["chains"]),
		SysctlLive:  map[string]string{},
		SysctlFile:  paritySysctlConf(sec["sysctlfile"]),
		ModulesLoad: parityLines(sec["modulesload"]),
		Modprobe:    parityLines(sec["modprobe"]),
		Limits:      parityLimitsLines(sec["limits"]),
		Packages:    trim(sec["packages"]),
		Modes:       trim(sec["modes"]),
	}
	for _, line := range strings.Split(trim(sec["sysctl"]), "\n") {
		k, v, _ := strings.Cut(line, "=")
		s.SysctlLive[k] = strings.Join(strings.Fields(v), " ")
	}
	if err := json.Unmarshal([]byte(sec["daemonjson"]), &s.DaemonJSON); err != nil {
		t.Fatalf("%s: %s is not JSON: %v\n%s", host, parityDaemonJSON, err, sec["daemonjson"])
	}
	return s
}

// paritySysctlConf reads a sysctl.d file as sysctl(8) does: comments (# or ;)
// and blank lines skipped, "key = value" split at the first '=' and trimmed,
// '/' in keys meaning '.', a later line for a key overriding an earlier one.
func paritySysctlConf(content string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			m[line] = "<no value>"
			continue
		}
		k = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(k), "-"), "/", ".")
		m[k] = strings.Join(strings.Fields(v), " ")
	}
	return m
}

// parityLines are the non-comment, non-blank lines of a file, with runs of
// whitespace made one space (how modules-load.d, modprobe.d and pam_limits
// read their files).
func parityLines(content string) []string {
	var out []string
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}

// parityLimitsLines are a limits file's entries the way pam_limits reads
// them: everything from '#' on is a comment, fields are separated by any
// whitespace.
func parityLimitsLines(content string) []string {
	var out []string
	for _, line := range strings.Split(content, "\n") {
		entry, _, _ := strings.Cut(line, "#")
		if f := strings.Fields(entry); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// parityCheckAbsolute checks swarmrun's end state against the playbook
// itself, so two equally wrong hosts do not pass.
func parityCheckAbsolute(t *testing.T, host string, s parityHostState) {
	t.Helper()
	for _, w := range []string{"Status: active", "Logging: on (medium)", "Default: deny (incoming), allow (outgoing)",
		"22/tcp                     ALLOW IN    Anywhere                   # ssh",
		"8080/tcp                   ALLOW IN    Anywhere                   # legacy app",
		"2377/tcp                   ALLOW IN    198.18.0.0/16              # swarm managers",
		"60000:61000/udp (v6)       ALLOW IN    Anywhere (v6)              # mosh",
		"23/tcp                     DENY IN     Anywhere"} {
		if !strings.Contains(s.UfwStatus, w) {
			t.Errorf("%s: ufw status lacks %q:\n%s", host, w, s.UfwStatus)
		}
	}
	want := map[string]string{"net.core.somaxconn": "8192", "net.ipv4.tcp_max_syn_backlog": "8192", "net.ipv4.tcp_fin_timeout": "30",
		"net.ipv4.tcp_keepalive_time": "600", "net.ipv4.ip_local_port_range": "1024 65000", "net.ipv4.ip_forward": "1"}
	if !reflect.DeepEqual(s.SysctlLive, want) || !reflect.DeepEqual(s.SysctlFile, want) {
		t.Errorf("%s: sysctl live %v, file %v; want %v", host, s.SysctlLive, s.SysctlFile, want)
	}
	if got := strings.Join(s.ModulesLoad, ","); got != "overlay,br_netfilter,nf_conntrack" {
		t.Errorf("%s: modules-load %s", host, got)
	}
	if got := strings.Join(s.Limits, "|"); got != "* soft nofile 65536|* hard nofile 65536|* soft nproc 32768|root - nproc unlimited" {
		t.Errorf("%s: limits %s", host, got)
	}
	if d, _ := s.DaemonJSON.(map[string]any); d["log-driver"] != "json-file" || d["debug"] != nil {
		t.Errorf("%s: daemon.json %v", host, s.DaemonJSON)
	}
}

// parityDiff lists the fields of two states that differ.
func parityDiff(a, b parityHostState, an, bn string) string {
	var out []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		if reflect.DeepEqual(x, y) {
			continue
		}
		out = append(out, fmt.Sprintf("%s:\n  %s: %s\n  %s: %s", va.Type().Field(i).Name,
			an, parityShow(x), bn, parityShow(y)))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func parityShow(v any) string {
	b, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
