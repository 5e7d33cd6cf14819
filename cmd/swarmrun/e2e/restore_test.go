//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const restoreNet = 26

// objectsScript prints the swarm's services (with their replicas), secrets,
// configs and swarm-scoped networks by name, through the engine's API
// (python3: Debian 13's docker.io has no docker CLI).
const objectsScript = `python3 - <<'PY'
import socket, json
def get(path):
    s = socket.socket(socket.AF_UNIX); s.connect("/var/run/docker.sock")
    s.sendall(("GET %s HTTP/1.0\r\nHost: d\r\n\r\n" % path).encode())
    d = b""
    while True:
        c = s.recv(65536)
        if not c: break
        d += c
    return json.loads(d.split(b"\r\n\r\n", 1)[1])
for s in sorted(get("/services"), key=lambda s: s["Spec"]["Name"]):
    print("service", s["Spec"]["Name"], s["Spec"]["Mode"].get("Replicated", {}).get("Replicas"))
for kind in ("secrets", "configs"):
    for o in sorted(o["Spec"]["Name"] for o in get("/" + kind)):
        print(kind, o)
for n in sorted(n["Name"] for n in get("/networks") if n["Scope"] == "swarm"):
    print("network", n)
PY`

// TestRestore: the whole disaster recovery on fresh Debian 13 hosts (Docker
// 26): site.star forms 3 managers and a worker with the web stack,
// backup.star archives the followers, then every manager loses its swarm
// state (the worker keeps the old one). restore.star refuses the archive on
// a host with another address, --check touches nothing, the run makes a new
// cluster from the archive on the follower it came from; all four hosts are
// its members (no node left over), it serves the same stack, and re-runs of
// restore.star and site.star change nothing. The restore's duration and the
// web stack's outage (from the loss) are logged for the README.
func TestRestore(t *testing.T) {
	t.Parallel() // beside the fresh tests, after the sequential ones (see testFresh)
	l := startLabArgs(t, restoreNet, 4, "--fresh", "--distro", "debian-13", "--managers", "3")
	root := repoRoot(t)
	l.Setenv("WEB_API_KEY", "e2e-restore-value-0001")
	// Debian 13's docker.io has no docker CLI: neither the playbooks nor
	// this test's checks (the Engine API from python3) need one.
	vars := []string{"-e", `{"swarm_secrets": [{"name": "web_api_key", "env": "WEB_API_KEY"}]}`}
	site := filepath.Join(root, "playbooks", "site.star")
	l.MustPlay(t, site, vars...)
	webAnswers(t, l, "after site.star")
	before := l.MustSSH(t, "h1", objectsScript)

	dest := t.TempDir()
	l.MustPlay(t, filepath.Join(root, "playbooks", "backup.star"), "-e", "backup_dir="+dest)
	var archive, from string
	for _, h := range []string{"h2", "h3"} {
		if a := filepath.Join(dest, h, "var", "backups", "swarm-"+h+".tar.gz"); fileExists(a) {
			archive, from = a, h
		}
	}
	if archive == "" {
		t.Fatal("backup.star fetched no follower's archive")
	}

	watch := watchOutage(l)
	t0 := time.Now()
	for _, h := range []string{"h1", "h2", "h3"} {
		l.MustSSH(t, h, "systemctl stop docker docker.socket && rm -rf /var/lib/docker/swarm && systemctl start docker")
	}
	restore := filepath.Join(root, "playbooks", "restore.star")
	restoreRefusesAndChecks(t, l, restore, archive, from)
	t1 := time.Now()
	run := l.MustPlay(t, restore, "-e", "archive="+archive, "-e", "node="+from)
	took := time.Since(t1)
	if !strings.Contains(run.Out, "force a new cluster") || !strings.Contains(run.Out, "stale node") {
		t.Errorf("restore: no new cluster or no stale node removed\n%s", run.Out)
	}
	webAnswers(t, l, "after restore.star")
	serving := time.Since(t1)
	outage, back := watch()
	again := "it never stopped answering"
	if !back.IsZero() {
		again = fmt.Sprintf("answering again from %s after the restore started", back.Sub(t1).Round(100*time.Millisecond))
	}
	// Where a replica ran on the worker, the stack kept answering through
	// the loss; where both ran on managers it answered nowhere until back.
	t.Logf("restore.star of %s's archive: %s, the web stack answering with its replicas %s after it started; it answered nowhere for %s in all from the loss of the managers' state (%s before the restore, spent on the refused run and --check); %s",
		from, took.Round(time.Second), serving.Round(time.Second), outage.Round(100*time.Millisecond), t1.Sub(t0).Round(time.Second), again)

	if after := l.MustSSH(t, from, objectsScript); after != before {
		t.Errorf("the restored swarm holds other objects:\nbefore %s\nafter  %s", before, after)
	}
	eventually(t, time.Minute, "all four hosts members, each once, Ready", func() error {
		out, err := l.SSH(from, nodesScript)
		got := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(out, " True", ""), " False", ""))
		if want := "h1 ready h2 ready h3 ready h4 ready"; err != nil || strings.Join(got, " ") != want {
			return fmt.Errorf("nodes %q (%v), want %q", out, err, want)
		}
		return nil
	})
	if again := l.MustPlay(t, restore, "-e", "archive="+archive, "-e", "node="+from); len(again.With("changed")) != 0 {
		t.Errorf("restore.star re-run changed %v", again.With("changed"))
	}
	if again := l.MustPlay(t, site, vars...); len(again.With("changed")) != 0 {
		t.Errorf("site.star after the restore changed %v", again.With("changed"))
	}
}

// restoreRefusesAndChecks: the archive onto another manager is refused
// before Docker is touched; --check onto its own host touches nothing and
// predicts the new cluster.
func restoreRefusesAndChecks(t *testing.T, l *Lab, restore, archive, from string) {
	state := func(h string) string {
		return l.MustSSH(t, h, "systemctl show -p MainPID --value docker; ls /var/lib/docker/swarm 2>&1 | head -3")
	}
	other := "h1"
	was := state(other)
	bad := l.Play(t, restore, "-e", "archive="+archive, "-e", "node="+other)
	if bad.Err == nil || !strings.Contains(bad.Out, "the archive was taken on a host with another address") || state(other) != was {
		t.Errorf("restore onto %s (another address) not refused before touching it: %v\n%s", other, bad.Err, bad.Out)
	}
	if len(bad.With("changed")) > 1 { // the staged copy of the archive only
		t.Errorf("refused restore changed %v", bad.With("changed"))
	}
	was = state(from)
	check := l.MustPlay(t, restore, "-e", "archive="+archive, "-e", "node="+from, "--check")
	if now := state(from); now != was || !strings.Contains(check.Out, "would initialise swarm") {
		t.Errorf("restore --check: %q -> %q\n%s", was, now, check.Out)
	}
}

// webAnswers waits until the web stack answers on two hosts (its replicas).
func webAnswers(t *testing.T, l *Lab, when string) {
	t.Helper()
	eventually(t, 3*time.Minute, "web stack answering with 2 replicas "+when, func() error {
		if n, err := probeWeb(l); err != nil || n < 2 {
			return fmt.Errorf("%d answering: %v", n, err)
		}
		return nil
	})
}

// watchOutage probes the web stack every 200 ms until its stop function is
// called, which returns how long no host answered (the failed probes times
// 200 ms) and when the last such probe was (zero if none).
func watchOutage(l *Lab) func() (time.Duration, time.Time) {
	var lost int
	var last time.Time
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := probeWeb(l); err != nil {
				last, lost = time.Now(), lost+1
			}
		}
	}()
	return func() (time.Duration, time.Time) {
		close(stop)
		<-done
		return time.Duration(lost) * 200 * time.Millisecond, last
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
