//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Network numbers of the lab tests (see main_test.go).
const (
	labSwarmNet = 250
	labManyNet  = 251
	labCrashNet = 252
)

// TestLabSwarm: three docker hosts are isolated from each other and from the
// machine, reach the package mirror, form a swarm by hand over SSH and run
// the test image as a 3-replica service; `lab down` then leaves nothing.
func TestLabSwarm(t *testing.T) {
	const net = labSwarmNet
	l := startLab(t, net, 3, true)
	if l.UpTime > 30*time.Second {
		t.Errorf("lab up took %s, want < 30s", l.UpTime)
	}
	for _, f := range []string{l.Inventory, l.Key, l.KnownHosts, filepath.Join(l.Dir, "testweb.tar")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	inv, _ := os.ReadFile(l.Inventory)
	for _, want := range []string{"[managers]\nh1 ansible_host=" + l.Hosts[0].Addr + " ansible_user=root ansible_ssh_private_key_file=" + l.Key,
		"[workers]\nh2 ansible_host=" + l.Hosts[1].Addr, "h3 ansible_host=" + l.Hosts[2].Addr,
		"[all:vars]\nansible_ssh_common_args='-o UserKnownHostsFile=" + l.KnownHosts + " -o StrictHostKeyChecking=yes'",
		"swarmrun_known_hosts_file=" + l.KnownHosts} {
		if !strings.Contains(string(inv), want) {
			t.Errorf("inventory lacks %q:\n%s", want, inv)
		}
	}
	if out, err := l.Swarmrun("lab", "status", "--dir", l.Dir); err != nil {
		t.Fatalf("lab status: %v\n%s", err, out)
	}
	// `lab ssh` runs commands, the docker client works inside a host.
	if out, err := l.Swarmrun("lab", "ssh", "--dir", l.Dir, "h1", "docker", "info", "--format", "{{.Name}}"); err != nil || trim(out) != "h1" {
		t.Fatalf("lab ssh h1 docker info: %v: %q", err, out)
	}

	t.Run("identity", func(t *testing.T) {
		for _, h := range l.Hosts {
			out := l.MustSSH(t, h.Name, "hostname; hostname -I; cat /etc/hostname")
			// hostname -I also lists docker0's address after the lab's.
			if f := strings.Fields(out); len(f) < 3 || f[0] != h.Name || f[1] != h.Addr || f[len(f)-1] != h.Name {
				t.Errorf("%s: hostname/address %q", h.Name, out)
			}
		}
	})

	t.Run("isolation", func(t *testing.T) {
		marker := fmt.Sprintf("/root/lab-isolation-%d", time.Now().UnixNano())
		l.MustSSH(t, "h1", "echo x > "+marker)
		for _, h := range []string{"h2", "h3"} {
			if out, err := l.SSH(h, "test ! -e "+marker); err != nil {
				t.Errorf("%s sees h1's %s: %v %s", h, marker, err, out)
			}
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the machine sees h1's %s", marker)
		}
		// A package installed on one host only (this needs the mirror).
		pkg := "sl"
		if exec.Command("dpkg", "-s", pkg).Run() == nil {
			pkg = "cowsay"
		}
		l.MustSSH(t, "h1", "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "+pkg+" >/dev/null && dpkg -s "+pkg+" >/dev/null")
		for _, h := range []string{"h2", "h3"} {
			if out, err := l.SSH(h, "! dpkg -s "+pkg+" >/dev/null 2>&1"); err != nil {
				t.Errorf("%s has %s installed on h1: %v %s", h, pkg, err, out)
			}
		}
		if exec.Command("dpkg", "-s", pkg).Run() == nil {
			t.Errorf("the machine has %s installed on h1", pkg)
		}
		// Nothing but the lab, the machine and the mirror is reachable.
		if out, err := l.SSH("h1", "timeout 5 bash -c 'exec 3<>/dev/tcp/1.1.1.1/80' 2>/dev/null"); err == nil {
			t.Errorf("h1 reaches 1.1.1.1:80: %s", out)
		}
	})

	t.Run("swarm", func(t *testing.T) {
		l.MustSSH(t, "h1", "docker swarm init --advertise-addr "+l.Hosts[0].Addr+" >/dev/null")
		token := trim(l.MustSSH(t, "h1", "docker swarm join-token -q worker"))
		var wg sync.WaitGroup
		for _, h := range []string{"h2", "h3"} {
			wg.Add(1)
			go func(h string) {
				defer wg.Done()
				if out, err := l.SSH(h, "docker swarm join --token "+token+" "+l.Hosts[0].Addr+":2377"); err != nil {
					t.Errorf("%s join: %v %s", h, err, out)
				}
			}(h)
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		l.WaitOutput(t, 30*time.Second, "3 ready nodes", "h1", "docker node ls --format '{{.Hostname}} {{.Status}}' | sort", "h1 Ready\nh2 Ready\nh3 Ready")
		// The image has a CMD healthcheck (run through docker exec), so
		// tasks only count as running once healthy.
		l.MustSSH(t, "h1", "printf s3cret | docker secret create web_secret - >/dev/null && "+
			"docker service create -d -q --name web --replicas 3 --replicas-max-per-node 1 --secret web_secret "+
			"--publish mode=host,target=8080,published=8080 swarmrun/testweb:latest >/dev/null")
		eventually(t, 60*time.Second, "3 running replicas", func() error {
			out, err := l.SSH("h1", "docker service ps web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' | sort")
			if err != nil {
				return err
			}
			lines := strings.Split(trim(out), "\n")
			if len(lines) != 3 {
				return fmt.Errorf("%q", out)
			}
			for i, line := range lines {
				if !strings.HasPrefix(line, "h"+strconv.Itoa(i+1)+" Running") {
					return fmt.Errorf("%q", out)
				}
			}
			return nil
		})
		seen := map[string]bool{}
		for _, h := range l.Hosts {
			var body struct {
				Hostname string `json:"hostname"`
				Secret   bool   `json:"secret"`
			}
			eventually(t, 20*time.Second, h.Name+":8080 answers", func() error {
				c := http.Client{Timeout: 3 * time.Second}
				resp, err := c.Get("http://" + h.Addr + ":8080/")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				return json.NewDecoder(resp.Body).Decode(&body)
			})
			if body.Hostname == "" || !body.Secret {
				t.Errorf("%s answered %+v", h.Name, body)
			}
			seen[body.Hostname] = true
		}
		if len(seen) != 3 {
			t.Errorf("want 3 distinct containers answering, got %v", seen)
		}
		// `service docker restart` works on a host (init.d, patched ulimit).
		// Debian's script returns before the engine answers, as on a real host.
		l.MustSSH(t, "h3", "service docker restart >/dev/null")
		l.WaitOutput(t, 30*time.Second, "h3 back in the swarm after restart", "h3", "docker info --format '{{.Swarm.LocalNodeState}}'", "active")
	})

	pids := labPIDs(t, l.Dir)
	l.Down(t)
	assertLabGone(t, net, l.Dir, pids)
	// Down again: nothing to remove is success.
	l.Down(t)
}

// TestLabManyHosts: 50 hosts without docker come up, all answer SSH, and go.
func TestLabManyHosts(t *testing.T) {
	const net, n = labManyNet, 50
	l := startLab(t, net, n, false)
	if len(l.Hosts) != n {
		t.Fatalf("%d hosts", len(l.Hosts))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for _, h := range l.Hosts {
		wg.Add(1)
		go func(h LabHost) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if out, err := l.SSH(h.Name, "hostname"); err != nil || trim(out) != h.Name {
				t.Errorf("%s: %v %q", h.Name, err, out)
			}
		}(h)
	}
	wg.Wait()
	pids := labPIDs(t, l.Dir)
	t0 := time.Now()
	l.Down(t)
	t.Logf("lab down of %d hosts: %s", n, time.Since(t0).Round(time.Millisecond))
	assertLabGone(t, net, l.Dir, pids)
}

// TestLabDownAfterCrash: with a torn or missing state file, `lab down --net K`
// still removes everything by the names derived from K.
func TestLabDownAfterCrash(t *testing.T) {
	const net = labCrashNet
	l := startLab(t, net, 2, false)
	pids := labPIDs(t, l.Dir)
	if err := os.WriteFile(filepath.Join(l.Dir, "state.json"), []byte(`{"version":1,"hos`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Swarmrun("lab", "down", "--dir", l.Dir, "--net", strconv.Itoa(net)); err != nil {
		t.Fatalf("lab down: %v\n%s", err, out)
	}
	assertLabGone(t, net, l.Dir, pids)
}

// labPIDs returns every PID the state file records.
func labPIDs(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Hosts []struct {
			PID      int `json:"pid"`
			SetupPID int `json:"setup_pid"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, h := range st.Hosts {
		pids = append(pids, h.PID, h.SetupPID)
	}
	return pids
}

// assertLabGone checks no namespace, mount, process, link, rule, cgroup or
// file of lab net in dir is left.
func assertLabGone(t *testing.T, net int, dir string, pids []int) {
	t.Helper()
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(out), fmt.Sprintf("srlab%d-", net)) {
		t.Errorf("netns left:\n%s", out)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, fmt.Sprintf("srlab%d-", net)) {
			t.Errorf("mount left: %s", line)
		}
	}
	out, _ = exec.Command("ip", "-o", "link").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, fmt.Sprintf("srv%d-", net)) || strings.Contains(line, fmt.Sprintf("srbr%d:", net)) {
			t.Errorf("link left: %s", line)
		}
	}
	out, _ = exec.Command("iptables-save").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, fmt.Sprintf("SRLAB%d ", net)) || strings.HasSuffix(line, fmt.Sprintf("SRLAB%d", net)) ||
			strings.Contains(line, fmt.Sprintf("swarmrun-lab-%d ", net)) || strings.Contains(line, fmt.Sprintf("198.18.%d.", net)) {
			t.Errorf("iptables rule left: %s", line)
		}
	}
	// Killed processes may linger as zombies until their new parent reaps them.
	eventually(t, 10*time.Second, "lab processes gone", func() error {
		for _, p := range pids {
			if p <= 0 {
				continue
			}
			b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
			if err == nil && !strings.Contains(string(b), ") Z ") {
				return fmt.Errorf("pid %d still running: %s", p, b)
			}
		}
		return nil
	})
	cg, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/srlab%d-h*", net))
	if len(cg) > 0 {
		t.Errorf("cgroups left: %v", cg)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		t.Errorf("files left in %s: %v", dir, ents)
	}
}

// TestLabFreshDownAfterCrash: a fresh host (supervisor, systemd-nspawn,
// systemd inside, an overlay mounted on the machine) is removed completely
// by `lab down --net K` without a state file.
func TestLabFreshDownAfterCrash(t *testing.T) {
	const net = 22
	l := startLabArgs(t, net, 1, "--fresh")
	pids := labPIDs(t, l.Dir)
	sup := pids[1]
	nspawn := childPID(sup)
	pids = append(pids, nspawn, childPID(nspawn))
	if nspawn == 0 || pids[len(pids)-1] == 0 {
		t.Fatalf("supervisor %d, nspawn %d, init %d: not all running", sup, nspawn, pids[len(pids)-1])
	}
	if err := os.Remove(filepath.Join(l.Dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Swarmrun("lab", "down", "--dir", l.Dir, "--net", strconv.Itoa(net)); err != nil {
		t.Fatalf("lab down: %v\n%s", err, out)
	}
	assertLabGone(t, net, l.Dir, pids)
	if m, _ := filepath.Glob(fmt.Sprintf("/run/systemd/nspawn/*/srlab%d-h*", net)); len(m) > 0 {
		t.Errorf("nspawn state left: %v", m)
	}
	// The image cache is not the lab's: it survives (only --purge removes it).
	if _, err := os.Stat("/var/cache/swarmrun/images/debian-13/.swarmrun-image"); err != nil {
		t.Errorf("lab down removed the image cache: %v", err)
	}
}

func childPID(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}
