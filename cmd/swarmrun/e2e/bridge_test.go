//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

const bridgeNet = 74

// TestStackBridgeIdempotent: a stack service on the external "bridge"
// network is created once; re-runs (and --check) change nothing and the
// service's version stays (it was updated on every run).
func TestStackBridgeIdempotent(t *testing.T) {
	l := startLab(t, bridgeNet, 1, true)
	pb := e2eData(t, "bridge", "bridge.star")
	img := l.ImageVar()
	first := l.MustPlay(t, pb, "-e", img)
	if len(first.With("changed")) == 0 {
		t.Fatalf("first run changed nothing:\n%s", first.Out)
	}
	version := trim(l.MustSSH(t, "h1", "docker service inspect br_web --format '{{.Version.Index}} {{len .Spec.TaskTemplate.Networks}}'"))
	for _, args := range [][]string{{"--check"}, {}, {}} {
		r := l.MustPlay(t, pb, append([]string{"-e", img, "--diff"}, args...)...)
		if got := r.With("changed"); len(got) != 0 {
			t.Fatalf("re-run %v changed %v:\n%s", args, got, r.Out)
		}
	}
	if got := trim(l.MustSSH(t, "h1", "docker service inspect br_web --format '{{.Version.Index}} {{len .Spec.TaskTemplate.Networks}}'")); got != version || !strings.HasSuffix(got, " 1") {
		t.Fatalf("service version/networks %q, was %q", got, version)
	}
}
