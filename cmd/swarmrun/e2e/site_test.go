//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// siteSnapshot is what --check must leave as it found: managed files,
// firewall, live sysctls, the dockerd process and the swarm.
const siteSnapshot = `
for f in /etc/ufw/user.rules /etc/ufw/ufw.conf /etc/sysctl.d/99-docker-swarm.conf \
         /etc/modules-load.d/docker-swarm.conf /etc/security/limits.d/99-docker-swarm.conf \
         /etc/docker/daemon.json; do
  [ -e "$f" ] && sha256sum "$f" || echo "absent $f"
done
ufw status verbose
sysctl -n net.core.somaxconn net.ipv4.tcp_max_syn_backlog
cat /var/run/docker.pid
docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}'
docker network ls --format '{{.Name}}' | sort
`

// TestSite runs the flagship playbook on a fresh 3-host lab: --check
// predicts exactly what the real run changes and touches nothing; the real
// run leaves a 3-node swarm with the web stack answering; a second run
// changes nothing; then the day-2 playbooks run against the live cluster
// while the web service is probed.
func TestSite(t *testing.T) {
	l := startLab(t, 11, 3, true)
	site := playbook(t, "site.star")
	// The secret comes from the environment here, not a file in the repo.
	secrets := l.WebSecret("e2e-first-value-0001")
	check := l.MustCheck(t, siteSnapshot, site, secrets...)
	predicted := check.With("changed")
	if len(predicted) < 20 {
		t.Fatalf("--check predicted only %d changes on fresh hosts:\n%s", len(predicted), check.Out)
	}
	if strings.Contains(check.Out, "e2e-first-value-0001") {
		t.Fatal("the secret value was printed")
	}

	run := l.MustPlay(t, site, secrets...)
	samePrediction(t, "site.star", check, run)
	if strings.Contains(run.Out, "e2e-first-value-0001") {
		t.Fatal("the secret value was printed")
	}

	// A 3-node swarm, every node Ready, labelled.
	nodes := l.MustSSH(t, "h1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}' | sort")
	if want := "h1 Ready Leader\nh2 Ready \nh3 Ready \n"; nodes != want {
		t.Errorf("docker node ls = %q, want %q", nodes, want)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if got := trim(l.MustSSH(t, "h1", "docker node inspect "+h+" --format '{{index .Spec.Labels \"tier\"}}'")); got != "app" {
			t.Errorf("node %s label tier = %q", h, got)
		}
	}
	net := l.MustSSH(t, "h1", "docker network inspect app --format '{{.Driver}} {{.Attachable}} {{json .Options}}'")
	if !strings.HasPrefix(net, "overlay true ") || !strings.Contains(net, `"encrypted"`) {
		t.Errorf("network app = %q, want an attachable encrypted overlay", net)
	}
	webAnswers(t, l, 90*time.Second, "with its secret")

	again := l.MustPlay(t, site, secrets...)
	if got := again.With("changed"); len(got) != 0 {
		t.Errorf("second run changed %v", got)
	}
	versionBefore := l.MustSSH(t, "h1", "docker service inspect web_web --format '{{.Version.Index}}'")

	// Day 2: drain a node running a replica, the service keeps answering.
	victim := trim(l.MustSSH(t, "h1", "docker service ps web_web --filter desired-state=running --format '{{.Node}}' | sort | head -1"))
	failures := probeDuring(t, l, func() {
		l.MustPlay(t, playbook(t, "drain.star"), "-e", "node="+victim, "-e", "keep_drained=true")
		onVictim := trim(l.MustSSH(t, "h1", "docker node ps "+victim+" --filter desired-state=running -q | wc -l"))
		if onVictim != "0" {
			t.Errorf("drained node %s still runs %s tasks", victim, onVictim)
		}
		l.MustPlay(t, playbook(t, "drain.star"), "-e", "node="+victim)
	})
	if failures > 0 {
		t.Errorf("%d probes failed while draining %s", failures, victim)
	}
	if avail := trim(l.MustSSH(t, "h1", "docker node inspect "+victim+" --format '{{.Spec.Availability}}'")); avail != "active" {
		t.Errorf("%s availability = %s after drain.star", victim, avail)
	}
	if v := l.MustSSH(t, "h1", "docker service inspect web_web --format '{{.Version.Index}}'"); v != versionBefore {
		t.Errorf("draining changed the service spec version %s -> %s", trim(versionBefore), trim(v))
	}

	// Day 2: rotate the secret; rolling update; old version removed.
	t.Setenv("NEW_WEB_API_KEY", "e2e-second-value-0002")
	var rot *PlayRun
	failures = probeDuring(t, l, func() {
		rot = l.MustPlay(t, playbook(t, "rotate-secret.star"), append(secrets, "-e", "secret=web_api_key", "-e", "value_env=NEW_WEB_API_KEY")...)
	})
	if failures > 0 {
		t.Errorf("%d probes failed while rotating the secret (update_config: stop-first, parallelism 1, 2 replicas)", failures)
	}
	if strings.Contains(rot.Out, "e2e-second-value-0002") {
		t.Fatal("the new secret value was printed")
	}
	names := trim(l.MustSSH(t, "h1", "docker secret ls --format '{{.Name}}' | sort | tr '\\n' ' '"))
	if names != "web_api_key_v2" {
		t.Errorf("secrets after rotation = %q, want only the new version", names)
	}
	used := trim(l.MustSSH(t, "h1", "docker service inspect web_web --format '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}{{end}}'"))
	if used != "web_api_key_v2" {
		t.Errorf("web_web uses secret %q", used)
	}

	// Day 2: backup of the managers' swarm state, fetched to the controller.
	dest := t.TempDir()
	l.MustPlay(t, playbook(t, "backup.star"), "-e", "backup_dir="+dest)
	archive := filepath.Join(dest, "h1", "var", "backups", "swarm-h1.tar.gz")
	if _, err := os.Stat(archive); err != nil {
		t.Fatalf("no archive on the controller: %v", err)
	}
	list, err := runCmd(time.Minute, "tar", "tzf", archive)
	if err != nil || !strings.Contains(list, "swarm/raft/") || !strings.Contains(list, "swarm/state.json") {
		t.Errorf("archive does not hold the raft state: %v\n%s", err, list)
	}
	l.WaitOutput(t, 60*time.Second, "h1 back as a Ready leader after the backup", "h1", "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}' | grep '^h1 '", "h1 Ready Leader")
}

// probeWeb asks every lab host's port 8080 and counts those that answer
// with the secret mounted.
func probeWeb(l *Lab) (int, error) {
	n := 0
	var last error
	c := http.Client{Timeout: time.Second}
	for _, h := range l.Hosts {
		resp, err := c.Get("http://" + h.Addr + ":8080/")
		if err != nil {
			last = err
			continue
		}
		var body [512]byte
		k, _ := resp.Body.Read(body[:])
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(body[:k]), `"secret":true`) {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("no host answers on :8080: %v", last)
	}
	return n, nil
}

// webAnswers waits until the web stack answers on two hosts (its replicas).
func webAnswers(t *testing.T, l *Lab, timeout time.Duration, when string) {
	t.Helper()
	eventually(t, timeout, "web stack answering with 2 replicas "+when, func() error {
		if n, err := probeWeb(l); err != nil || n < 2 {
			return fmt.Errorf("%d answering: %v", n, err)
		}
		return nil
	})
}

// probeDuring probes the web service every 200 ms while f runs and returns
// how many probes found no host answering.
func probeDuring(t *testing.T, l *Lab, f func()) int {
	t.Helper()
	var failed, total atomic.Int64
	stop := tick(nil, func() {
		total.Add(1)
		if _, err := probeWeb(l); err != nil {
			failed.Add(1)
			t.Logf("probe failed: %v", err)
		}
	})
	f()
	stop()
	t.Logf("%d of %d probes failed", failed.Load(), total.Load())
	return int(failed.Load())
}

// tick calls f every 200 ms in the background (once before, if not nil,
// has returned) until the function it returns is called, which waits for
// the last call to end.
func tick(before, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if before != nil {
			before()
		}
		for {
			select {
			case <-quit:
				return
			case <-time.After(200 * time.Millisecond):
			}
			f()
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// TestSiteSingleNode: one host, one manager, the swarm small deployments
// start with. site.star deploys a stack that fits (one web replica, since
// the example allows one per node) and a re-run changes nothing; a stack
// that cannot fit (2 replicas, at most 1 per node) fails within a minute
// naming the scheduler's reason, not after the whole wait with an older
// task's error.
func TestSiteSingleNode(t *testing.T) {
	l := startLab(t, 23, 1, true)
	site := playbook(t, "site.star")
	secrets := l.WebSecret("e2e-single-value-0001")
	l.MustPlay(t, site, secrets...)
	eventually(t, time.Minute, "the web replica answers", func() error {
		resp, err := http.Get("http://" + l.Hosts[0].Addr + ":8080/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if again := l.MustPlay(t, site, secrets...); len(again.With("changed")) != 0 {
		t.Errorf("second run changed %v", again.With("changed"))
	}

	tooMany := `{"swarm_stacks": [{"name": "web", "compose": "stacks/web.yml", "env": {"WEB_REPLICAS": "2"}}]}`
	t0 := time.Now()
	run := l.Play(t, site, append(secrets, "-e", tooMany)...)
	took := time.Since(t0)
	if run.Err == nil || !strings.Contains(run.Out, "service web_web cannot be scheduled: task web_web.2 pending: no suitable node (") {
		t.Errorf("2 replicas on one node: %v\n%s", run.Err, run.Out)
	}
	if took > 90*time.Second {
		t.Errorf("the unschedulable stack took %s to report", took.Round(time.Second))
	}
	t.Logf("unschedulable replica reported after %s", took.Round(time.Second))
}
