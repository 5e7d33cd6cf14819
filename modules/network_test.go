package modules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// Removing a network or secret a service uses is refused; once nothing
// uses them they can go.
func TestRemoveInUseRefused(t *testing.T) {
	f := newFakeManager()
	mustRun(t, "network", target(false), f, Params{"name": "appnet", "attachable": true})
	r := mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "x"})
	// A service on the network with the secret, as stack(...) with
	// testdata/e2e/swarm/web.yml deploys it (modules/stack's tests).
	spec := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web_web"}, TaskTemplate: swarm.TaskSpec{
		ContainerSpec: &swarm.ContainerSpec{Image: "swarmrun/testweb:latest",
			Secrets: []*swarm.SecretReference{{SecretID: r.Outputs["id"].(string), SecretName: "pw"}}},
		Networks: []swarm.NetworkAttachmentConfig{{Target: "appnet"}}}}
	svc, err := f.ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.Calls = nil
	if _, err := run(t, "network", target(false), f, Params{"name": "appnet", "state": "absent"}); err == nil || err.Error() != "network: remove network appnet: used by services web_web; remove them first" {
		t.Errorf("network in use: %v", err)
	}
	if _, err := run(t, "secret", target(true), f, Params{"name": "pw", "data": "x", "state": "absent"}); err == nil || !strings.HasPrefix(err.Error(), "secret: remove secret pw: used by services web_web") {
		t.Errorf("secret in use (check): %v", err)
	}
	if len(f.Calls) != 0 {
		t.Errorf("refused removals touched the swarm: %v", f.Calls)
	}
	if err := f.ServiceRemove(context.Background(), svc.ID); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "network", target(false), f, Params{"name": "appnet", "state": "absent"})
	mustRun(t, "secret", target(false), f, Params{"name": "pw", "data": "x", "state": "absent"})
}

// flakyInspect misses a network in inspect a number of times, as a manager
// that restarted many times does for a while.
type flakyInspect struct {
	*fakeEngine
	misses, calls int
}

func (f *flakyInspect) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	f.calls++
	if f.misses > 0 {
		f.misses--
		return network.Inspect{}, errdefs.ErrNotFound.WithMessage("network " + id + " not found")
	}
	return f.fakeEngine.NetworkInspect(ctx, id, o)
}

// TestFindNetworkLooksAgain: a network that inspect misses at first is
// looked up again instead of being taken as the stale listed copy.
func TestFindNetworkLooksAgain(t *testing.T) {
	f := newFakeManager()
	if _, err := run(t, "network", target(false), f, Params{"name": "app"}); err != nil {
		t.Fatal(err)
	}
	flaky := &flakyInspect{fakeEngine: f, misses: 2}
	n, err := findNetwork(context.Background(), flaky, "app")
	if err != nil || n == nil || n.Name != "app" || flaky.calls != 3 {
		t.Fatalf("after two misses: %+v %v (%d inspects, want 3)", n, err, flaky.calls)
	}
	flaky = &flakyInspect{fakeEngine: f, misses: 100}
	n, err = findNetwork(context.Background(), flaky, "app")
	if err != nil || n == nil || n.Name != "app" || flaky.calls != 4 {
		t.Fatalf("missed every time: want the listed copy after 4 looks, got %+v %v (%d inspects)", n, err, flaky.calls)
	}
}

// staleCopy also lists an older copy of each network under another ID,
// one the swarm does not have, whose removal fails (TestLiveCluster/
// StackAbsent met it on a manager just unlocked); with only, the first
// listing shows the copy alone.
type staleCopy struct {
	*fakeEngine
	only    bool
	lookups int
}

var staleNet = network.Inspect{ID: "stale0001", Name: "app", Scope: "swarm", Driver: "overlay", Created: time.Unix(1, 0)}

func (f *staleCopy) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.lookups++
	if f.only && f.lookups == 1 {
		return []network.Summary{staleNet}, nil
	}
	l, err := f.fakeEngine.NetworkList(ctx, o)
	return append([]network.Summary{staleNet}, l...), err
}

func (f *staleCopy) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	if id == staleNet.ID {
		return staleNet, nil
	}
	return f.fakeEngine.NetworkInspect(ctx, id, o)
}

func (f *staleCopy) NetworkRemove(ctx context.Context, id string) error {
	if id == staleNet.ID {
		return errors.New("Error response from daemon: network " + id + " not found")
	}
	return f.fakeEngine.NetworkRemove(ctx, id)
}

// TestRemoveNetworkStaleCopy: of two copies of a name the newest is the
// network; a removal that fails on a copy shown alone looks again and
// decides on the network the swarm has: in use, refused; unused, removed.
func TestRemoveNetworkStaleCopy(t *testing.T) {
	f := newFakeManager()
	mustRun(t, "network", target(false), f, Params{"name": "app"})
	spec := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web_web"}, TaskTemplate: swarm.TaskSpec{
		ContainerSpec: &swarm.ContainerSpec{Image: "x"}, Networks: []swarm.NetworkAttachmentConfig{{Target: "app"}}}}
	svc, err := f.ServiceCreate(context.Background(), spec, swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, only := range []bool{false, true} {
		_, err = run(t, "network", target(false), &staleCopy{fakeEngine: f, only: only}, Params{"name": "app", "state": "absent"})
		if err == nil || err.Error() != "network: remove network app: used by services web_web; remove them first" {
			t.Errorf("in use behind a stale copy (shown alone first: %v): %v", only, err)
		}
	}
	if err := f.ServiceRemove(context.Background(), svc.ID); err != nil {
		t.Fatal(err)
	}
	f.Calls = nil
	r, err := run(t, "network", target(false), &staleCopy{fakeEngine: f, only: true}, Params{"name": "app", "state": "absent"})
	left, _ := findNetwork(context.Background(), f, "app")
	if err != nil || !r.Changed || left != nil || len(f.Calls) != 1 {
		t.Errorf("unused behind a stale copy: %+v %v, left %v, calls %v", r, err, left, f.Calls)
	}
}

// lingering lists a removed network's copy for a few more lookups, as a
// manager whose own copy outlives the swarm's does.
type lingering struct {
	*fakeEngine
	gone *network.Summary
	left int
}

func (f *lingering) NetworkRemove(ctx context.Context, id string) error {
	if f.gone != nil && id == f.gone.ID {
		return errors.New("Error response from daemon: network " + id + " not found")
	}
	n := network.Summary(*f.Networks[id])
	f.gone, f.left = &n, 3
	return f.fakeEngine.NetworkRemove(ctx, id)
}

func (f *lingering) NetworkInspect(ctx context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	if f.gone != nil && id == f.gone.ID && f.left > 0 {
		return *f.gone, nil
	}
	return f.fakeEngine.NetworkInspect(ctx, id, o)
}

func (f *lingering) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	l, err := f.fakeEngine.NetworkList(ctx, o)
	if f.gone != nil && f.left > 0 {
		f.left--
		l = append(l, *f.gone)
	}
	return l, err
}

// TestRemoveNetworkWaitsUntilGone: a removal returns once the manager no
// longer lists the network, so a run right after changes nothing.
func TestRemoveNetworkWaitsUntilGone(t *testing.T) {
	f := &lingering{fakeEngine: newFakeManager()}
	mustRun(t, "network", target(false), f, Params{"name": "app"})
	if r := mustRun(t, "network", target(false), f, Params{"name": "app", "state": "absent"}); !r.Changed {
		t.Fatalf("not removed: %+v", r)
	}
	if r := mustRun(t, "network", target(false), f, Params{"name": "app", "state": "absent"}); r.Changed || f.left != 0 {
		t.Errorf("a run right after the removal: %+v (copy listed %d more times)", r, f.left)
	}
}
