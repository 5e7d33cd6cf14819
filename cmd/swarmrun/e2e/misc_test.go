//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestMiscModules proves image, fetch, facts and wait_for on lab hosts the
// way every module is proven: --check predicts exactly and touches nothing,
// the run makes those changes, a second run makes none.
func TestMiscModules(t *testing.T) {
	l := startLab(t, 38, 2, true)
	pb := e2eData(t, "misc", "misc.star")
	fetchDir := t.TempDir()
	args := []string{"-e", l.ImageVar(), "-e", "fetch_dir=" + fetchDir}
	// h2 lacks the image: only it must load it.
	l.MustSSH(t, "h2", "docker image rm swarmrun/testweb:latest")

	check := l.MustCheck(t, "docker image ls -q swarmrun/testweb:latest", pb, args...) // loads no image
	if entries, _ := os.ReadDir(fetchDir); len(entries) != 0 {
		t.Fatalf("--check fetched files: %v", entries)
	}
	want := []string{"fetch /etc/hostname @ h1", "fetch /etc/hostname @ h2", "load the test image @ h2"}
	if got := sorted(check.With("changed")); !reflect.DeepEqual(got, want) {
		t.Fatalf("--check predicted %v, want %v\n%s", got, want, check.Out)
	}
	run := l.MustPlay(t, pb, args...)
	if got := sorted(run.With("changed")); !reflect.DeepEqual(got, want) {
		t.Errorf("the run changed %v, want %v", got, want)
	}
	again := l.MustPlay(t, pb, args...)
	if got := again.With("changed"); len(got) != 0 {
		t.Errorf("second run changed %v", got)
	}
	for _, h := range l.Hosts {
		if id := strings.TrimSpace(l.MustSSH(t, h.Name, "docker image ls -q swarmrun/testweb:latest")); id == "" {
			t.Errorf("%s has no test image after the run", h.Name)
		}
		b, err := os.ReadFile(filepath.Join(fetchDir, h.Name, "etc", "hostname"))
		if err != nil || strings.TrimSpace(string(b)) != h.Name {
			t.Errorf("fetched hostname of %s: %q %v", h.Name, b, err)
		}
	}
}
