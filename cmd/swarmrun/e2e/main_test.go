//go:build e2e

// Package e2e drives the real swarmrun binary against lab hosts (real sshd,
// real dockerd in network namespaces; see `swarmrun lab`). It needs root on
// Linux. Run: go test -tags e2e ./cmd/swarmrun/e2e/ -v
//
// Network numbers (--net K, the 198.18.K.0/24 of a lab) must not collide
// between labs that run at the same time, on a shared machine also across
// people: give each test its own constant and list it here.
//
//	6        hostprep_test.go
//	11       site_test.go
//	33, 34   swarm_test.go
//	35       swarm_more_test.go
//	36       ansible_parity_test.go
//	37       become_test.go
//	38       misc_test.go
//	39       addnode_test.go
//	20, 21   fresh_test.go (fresh hosts: debian-13, debian-12)
//	22       lab_test.go (fresh hosts, down after a crash)
//	23       site_test.go (single node)
//	25       fresh_reboot_test.go (fresh hosts, rolling reboot)
//	26       restore_test.go (fresh hosts, backup and restore)
//	70       canary_test.go (secret canary)
//	71-73    faults_test.go (fault injection; each net for two tests, one after the other)
//	74       bridge_test.go
//	60       live_test.go (61-64 also reserved for it)
//	250-252  lab_test.go
//	7        make bench (cmd/swarmrun-bench)
//	0        make demo
//	40       vault_test.go
//	41       modes_test.go (and the inventory merge)
//	42       adhoc_test.go (and ansible.cfg, become_user, env)
//	50       network_test.go (TestPreflight)
//	51       network_test.go (TestNetworkFirewall)
//
// A net held by a running lab of another directory is refused (never torn
// down) by both `lab up` and `lab down --net`.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	swarmrun "github.com/swarmrun/swarmrun/runtime"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// repoRoot is the module root (tests run in cmd/swarmrun/e2e/).
func repoRoot(t testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(wd)))
}

// playbook is the path of name in the repository's playbooks/.
func playbook(t testing.TB, name ...string) string {
	return filepath.Join(append([]string{repoRoot(t), "playbooks"}, name...)...)
}

// e2eData is the path of name in testdata/e2e/.
func e2eData(t testing.TB, name ...string) string {
	return filepath.Join(append([]string{repoRoot(t), "testdata", "e2e"}, name...)...)
}

// writeFile writes content to p (mode 0644) or fails the test; it
// returns p.
func writeFile(t testing.TB, p, content string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Binary builds ./cmd/swarmrun once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "swarmrun-e2e-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "swarmrun")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/swarmrun")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/swarmrun: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// requireLab skips a test on machines that cannot run the lab.
func requireLab(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the lab needs Linux")
	}
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root")
	}
}

// Lab is a running lab as a test sees it.
type Lab struct {
	Bin        string // the swarmrun binary
	Dir        string // lab directory
	Net        int
	Inventory  string
	Key        string
	KnownHosts string
	Hosts      []LabHost
	UpTime     time.Duration // how long `lab up` took
	User       string        // login user: root, or admin (with sudo) on fresh hosts
	Env        []string      // added to the environment of its swarmrun runs (Setenv)
}

// LabHost is one host of a Lab.
type LabHost struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	Manager bool   `json:"manager"`
}

// startLab starts a lab on network net (198.18.net.0/24) with the given
// number of hosts (with dockerd and the swarmrun/testweb:latest image unless
// docker is false) in a temporary directory, and stops it when the test ends.
// Leftovers of an earlier crashed run on the same net are removed first.
func startLab(t testing.TB, net, hosts int, docker bool) *Lab {
	t.Helper()
	var extra []string
	if !docker {
		extra = append(extra, "--no-docker")
	}
	return startLabArgs(t, net, hosts, extra...)
}

// startLabArgs is startLab with more `lab up` arguments (--fresh, ...).
func startLabArgs(t testing.TB, net, hosts int, extra ...string) *Lab {
	t.Helper()
	requireLab(t)
	bin := Binary(t)
	dir := t.TempDir() // cleanups run in reverse: lab down before the dir goes
	if os.Getenv("SWARMRUN_E2E_KEEP") != "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("swarmrun-e2e-net%d", net))
		os.RemoveAll(dir)
	}
	// A previous run that crashed may have left namespaces/rules of this net.
	if out, err := runCmd(2*time.Minute, bin, "lab", "down", "--dir", dir, "--net", strconv.Itoa(net)); err != nil {
		t.Fatalf("lab down (pre-clean) --net %d: %v\n%s", net, err, out)
	}
	args := append([]string{"lab", "up", "--dir", dir, "--net", strconv.Itoa(net), "--hosts", strconv.Itoa(hosts)}, extra...)
	t0 := time.Now()
	out, err := runCmd(5*time.Minute, bin, args...)
	up := time.Since(t0)
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("SWARMRUN_E2E_KEEP") != "" {
			t.Logf("SWARMRUN_E2E_KEEP: the lab stays up: swarmrun lab status --dir %s", dir)
			return
		}
		if out, err := runCmd(2*time.Minute, bin, "lab", "down", "--dir", dir); err != nil {
			t.Errorf("lab down: %v\n%s", err, out)
		}
	})
	if err != nil {
		t.Fatalf("lab up: %v\n%s", err, out)
	}
	t.Logf("lab up --net %d --hosts %d %v: %s", net, hosts, extra, up.Round(time.Millisecond))
	l := &Lab{Bin: bin, Dir: dir, Net: net, UpTime: up,
		Inventory:  filepath.Join(dir, "inventory"),
		Key:        filepath.Join(dir, "id_ed25519"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
	}
	var st struct {
		Hosts []LabHost `json:"hosts"`
		Fresh bool      `json:"fresh"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	l.Hosts = st.Hosts
	if st.Fresh {
		l.User = "admin" // a sudo user; root login is refused
	}
	return l
}

// Down stops the lab now (the cleanup's later down then finds nothing).
func (l *Lab) Down(t testing.TB) {
	t.Helper()
	if out, err := runCmd(2*time.Minute, l.Bin, "lab", "down", "--dir", l.Dir); err != nil {
		t.Fatalf("lab down: %v\n%s", err, out)
	}
}

// Host returns the host named name.
func (l *Lab) Host(t testing.TB, name string) LabHost {
	t.Helper()
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no lab host %q", name)
	return LabHost{}
}

// SSHArgs are OpenSSH client arguments logging in to host as the lab's user.
func (l *Lab) SSHArgs(host string) []string {
	if l.User == "" {
		return l.SSHArgsAs("root", host)
	}
	return l.SSHArgsAs(l.User, host)
}

// SSHArgsAs are OpenSSH client arguments logging in to host as user.
func (l *Lab) SSHArgsAs(user, host string) []string {
	addr := host
	for _, h := range l.Hosts {
		if h.Name == host {
			addr = h.Addr
		}
	}
	return []string{"-i", l.Key, "-o", "UserKnownHostsFile=" + l.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", user + "@" + addr}
}

// SSH runs a shell command on host through the real ssh client and returns
// its combined output.
// On fresh hosts the command runs as root through sudo.
func (l *Lab) SSH(host, command string) (string, error) {
	if l.User != "" && l.User != "root" {
		command = "sudo sh -c " + shQuote(command)
	}
	return runCmd(5*time.Minute, "ssh", append(l.SSHArgs(host), command)...)
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// MustSSH is SSH that fails the test on error.
func (l *Lab) MustSSH(t testing.TB, host, command string) string {
	t.Helper()
	out, err := l.SSH(host, command)
	if err != nil {
		t.Fatalf("ssh %s %q: %v\n%s", host, command, err, out)
	}
	return out
}

// Swarmrun runs the swarmrun binary with args and returns combined output.
func (l *Lab) Swarmrun(args ...string) (string, error) {
	return runCmdEnv(10*time.Minute, l.Env, l.Bin, args...)
}

// Setenv sets an environment variable for this lab's swarmrun runs only:
// unlike t.Setenv, it leaves the process alone, so parallel tests may use it.
func (l *Lab) Setenv(key, value string) { l.Env = append(l.Env, key+"="+value) }

// InventoryWith writes the lab's inventory, changed by edit, to p and
// returns p.
func (l *Lab) InventoryWith(t testing.TB, p string, edit func(inv string) string) string {
	t.Helper()
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, p, edit(string(b)))
}

// ImageVar is the -e that gives a playbook the lab's test image
// (image_tar: the testweb.tar `lab up` saved).
func (l *Lab) ImageVar() string { return "image_tar=" + filepath.Join(l.Dir, "testweb.tar") }

// SwarmrunExit is Swarmrun with the exit code instead of the error.
func (l *Lab) SwarmrunExit(args ...string) (string, int) {
	out, err := l.Swarmrun(args...)
	return out, exitCode(err)
}

// WebSecret sets WEB_API_KEY (the value of the example stack's secret) for
// this lab's swarmrun runs and returns the -e that makes site.star read it.
func (l *Lab) WebSecret(value string) []string {
	l.Setenv("WEB_API_KEY", value)
	return []string{"-e", `{"swarm_secrets": [{"name": "web_api_key", "env": "WEB_API_KEY"}]}`}
}

// OnEach runs command on every host (MustSSH) and returns the outputs by
// host name.
func (l *Lab) OnEach(t testing.TB, command string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range l.Hosts {
		out[h.Name] = l.MustSSH(t, h.Name, command)
	}
	return out
}

// MustCheck runs playbook with --check (plus args) and fails the test
// unless command prints on every host afterwards what it printed before:
// --check touches nothing.
func (l *Lab) MustCheck(t testing.TB, command, playbook string, args ...string) *PlayRun {
	t.Helper()
	before := l.OnEach(t, command)
	check := l.MustPlay(t, playbook, append(args, "--check")...)
	after := l.OnEach(t, command)
	for _, h := range l.Hosts {
		if after[h.Name] != before[h.Name] {
			t.Fatalf("--check changed %s:\n%s\n---\n%s", h.Name, before[h.Name], after[h.Name])
		}
	}
	return check
}

// WaitOutput waits (eventually, for what) until command on host succeeds
// with the output want (spaces around it aside).
func (l *Lab) WaitOutput(t testing.TB, timeout time.Duration, what, host, command, want string) {
	t.Helper()
	eventually(t, timeout, what, func() error {
		out, err := l.SSH(host, command)
		if err != nil || trim(out) != want {
			return fmt.Errorf("%q %v", out, err)
		}
		return nil
	})
}

// runCmd runs a command with a timeout, returning stdout+stderr.
func runCmd(timeout time.Duration, name string, args ...string) (string, error) {
	return runCmdEnv(timeout, nil, name, args...)
}

// runCmdEnv is runCmd with env added to the process's environment.
func runCmdEnv(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A stray background process holding the pipe must not hang the test.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// eventually retries f until it succeeds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func trim(s string) string { return strings.TrimSpace(s) }

// PlayRun is one `swarmrun play --output json` run.
type PlayRun struct {
	Out     string       // everything the binary printed
	Err     error        // its exit status
	Results []PlayResult // one per host per step
	Recap   map[string]map[string]int
}

// PlayResult is one {"event":"result"} line.
type PlayResult = swarmrun.ResultEvent

// Play runs a playbook against the lab with --output json (plus args).
func (l *Lab) Play(t testing.TB, playbook string, args ...string) *PlayRun {
	t.Helper()
	full := append([]string{"play", playbook, "-i", l.Inventory, "--output", "json"}, args...)
	return parsePlay(l.Swarmrun(full...))
}

// parsePlay reads the JSON lines of a `swarmrun play --output json` run.
func parsePlay(out string, err error) *PlayRun {
	r := &PlayRun{Out: out, Err: err}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev swarmrun.ResultEvent // the other events' fields are not read
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch ev.Event {
		case "result":
			r.Results = append(r.Results, ev)
		case "recap":
			var rc struct {
				Hosts map[string]map[string]int `json:"hosts"` // swarmrun.RecapEvent, by name
			}
			json.Unmarshal([]byte(line), &rc)
			r.Recap = rc.Hosts
		}
	}
	return r
}

// MustPlay is Play that fails the test unless the run exits 0.
func (l *Lab) MustPlay(t testing.TB, playbook string, args ...string) *PlayRun {
	t.Helper()
	r := l.Play(t, playbook, args...)
	if r.Err != nil {
		t.Fatalf("swarmrun play %s %v: %v\n%s", playbook, args, r.Err, r.Out)
	}
	return r
}

// samePrediction fails the test unless run (what names it) changed
// exactly what check predicted.
func samePrediction(t testing.TB, what string, check, run *PlayRun) {
	t.Helper()
	want, got := sorted(check.With("changed")), sorted(run.With("changed"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: --check predicted %d changes, the run made %d\npredicted %v\nmade      %v", what, len(want), len(got), want, got)
	}
}

// With returns "task @ host" of every result with the given status.
func (r *PlayRun) With(status string) []string {
	var out []string
	for _, x := range r.Results {
		if x.Status == status {
			out = append(out, x.Task+" @ "+x.Host)
		}
	}
	return out
}
