package stack

import (
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmrun/swarmrun/modules/internal/fakeengine"
)

func TestNormaliseSpec(t *testing.T) {
	// A converted spec and the same spec after the engine filled defaults.
	three := uint64(3)
	want := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "a", Labels: map[string]string{"x": "1"}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "i", Privileges: &swarm.Privileges{}}, Resources: &swarm.ResourceRequirements{}, Placement: &swarm.Placement{}, Networks: []swarm.NetworkAttachmentConfig{{Target: "net"}}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}},
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1},
	}
	f := fakeengine.NewManager()
	f.Networks["netid"] = &network.Inspect{ID: "netid", Name: "net"}
	got := f.EngineSpec(want)
	got.EndpointSpec.Ports[0].Protocol = "tcp"
	got.EndpointSpec.Ports[0].PublishMode = "ingress"
	names := map[string]string{"netid": "net"}
	if d := specDiff(normaliseSpec(got, names), normaliseSpec(want, names)); len(d) != 0 {
		t.Fatalf("differences after normalising: %v", d)
	}
	got.TaskTemplate.ContainerSpec.Image = "j"
	if d := specDiff(normaliseSpec(got, names), normaliseSpec(want, names)); len(d) != 1 || d[0] != `TaskTemplate.ContainerSpec.Image: "j" -> "i"` {
		t.Fatalf("diff %v", d)
	}
}
