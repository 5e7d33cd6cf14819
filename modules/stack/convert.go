package stack

// What docker/cli's cli/compose/convert needs around it: a client that
// resolves the secrets and configs this step creates, and what docker
// stack deploy keeps from a running service.

import (
	"context"

	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// planClient lets convert.Services resolve secret and config names that
// this step would create (and, under --check, ones an earlier step would
// create) without them existing yet.
type planClient struct {
	client.APIClient
	check   bool
	secrets map[string]string // name -> placeholder ID
	configs map[string]string
	missing []string // names only assumed to exist (check mode)
}

const plannedID = "(created on apply)"

func (c *planClient) SecretList(ctx context.Context, o swarm.SecretListOptions) ([]swarm.Secret, error) {
	l, err := c.APIClient.SecretList(ctx, o)
	return withPlanned(c, "secret", l, err, o.Filters.Get("name"), c.secrets, func(s swarm.Secret) string { return s.Spec.Name },
		func(id, name string) swarm.Secret {
			return swarm.Secret{ID: id, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}}}
		})
}

func (c *planClient) ConfigList(ctx context.Context, o swarm.ConfigListOptions) ([]swarm.Config, error) {
	l, err := c.APIClient.ConfigList(ctx, o)
	return withPlanned(c, "config", l, err, o.Filters.Get("name"), c.configs, func(s swarm.Config) string { return s.Spec.Name },
		func(id, name string) swarm.Config {
			return swarm.Config{ID: id, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}}}
		})
}

// withPlanned adds to the engine's list l (err its error) of secrets or
// configs an object (made by mk) for each asked name the engine lacks: one
// this step creates (in created), or in check mode a placeholder (recorded
// as missing).
func withPlanned[T any](c *planClient, kind string, l []T, err error, asked []string, created map[string]string,
	name func(T) string, mk func(id, name string) T) ([]T, error) {
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, x := range l {
		have[name(x)] = true
	}
	for _, n := range asked {
		id, ok := created[n]
		switch {
		case have[n]:
		case ok:
			l = append(l, mk(id, n))
		case c.check:
			c.missing = append(c.missing, kind+" "+n)
			l = append(l, mk(plannedID, n))
		}
	}
	return l, nil
}

// carryOver keeps what docker stack deploy keeps from the running service:
// the image as resolved before (a digest pinned by an earlier
// resolve-image) when the file names the same image, the platforms the
// registry reported, and ForceUpdate (stack files cannot set it).
func carryOver(spec swarm.ServiceSpec, cur swarm.Service, resolveImage string) swarm.ServiceSpec {
	cs := *spec.TaskTemplate.ContainerSpec
	spec.TaskTemplate.ContainerSpec = &cs
	if resolveImage != "always" && cur.Spec.TaskTemplate.ContainerSpec != nil && cs.Image == cur.Spec.Labels[convert.LabelImage] {
		cs.Image = cur.Spec.TaskTemplate.ContainerSpec.Image
		if spec.TaskTemplate.Placement != nil && cur.Spec.TaskTemplate.Placement != nil && len(spec.TaskTemplate.Placement.Platforms) == 0 {
			pl := *spec.TaskTemplate.Placement
			pl.Platforms = cur.Spec.TaskTemplate.Placement.Platforms
			spec.TaskTemplate.Placement = &pl
		}
	}
	spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
	return spec
}

// withoutHash returns labels without modules.HashLabel.
func withoutHash(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != modules.HashLabel {
			out[k] = v
		}
	}
	return out
}

// nameSwarmNetworks adds to netNames the networks a service refers to by
// an ID the network list does not show: a service on the predefined
// "bridge" or "host" network stores the swarm's own ID of it, which only
// an inspect in swarm scope maps back to the name. Without this such a
// service differs from its file on every run and is updated each time.
func nameSwarmNetworks(ctx context.Context, api client.APIClient, spec swarm.ServiceSpec, netNames map[string]string) {
	for _, n := range spec.TaskTemplate.Networks {
		if _, ok := netNames[n.Target]; ok {
			continue
		}
		if nw, err := api.NetworkInspect(ctx, n.Target, network.InspectOptions{Scope: "swarm"}); err == nil && nw.Name != "" {
			netNames[n.Target] = nw.Name
		}
	}
}
