package modules

import (
	"context"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "config",
		Doc: `Create, rotate or remove a swarm config (run it on a manager).

Like the secret module, for non-secret files: the value comes from data or
src (a file beside the playbook, read on the controller), a sha256 label
makes re-runs change nothing, rotate = True turns a changed value into a new
version NAME_v2, NAME_v3, ... (output name) keeping the newest keep
versions, and a changed config without rotate is replaced only if no service
uses it. With --diff a replaced config shows a unified diff of its content.

    cfg = config(leader, name = "nginx_conf", src = "files/nginx.conf", rotate = True)
    stack(leader, name = "web", compose = "web.yml", env = {"NGINX_CONF": cfg.name})`,
		Params:  fileObjectParams("config", false),
		Outputs: fileObjectOutputs("config"),
		Run:     fileObjectRunner(func(api client.APIClient) objectKind { return configKind{api} }),
	})
}

type configKind struct{ api client.APIClient }

func (k configKind) kind() string       { return "config" }
func (k configKind) dataReadable() bool { return true }
func (k configKind) list(ctx context.Context) ([]swarmObject, error) {
	l, err := k.api.ConfigList(ctx, swarm.ConfigListOptions{})
	return objectsOf(l, err, func(c swarm.Config) swarmObject {
		return swarmObject{ID: c.ID, Name: c.Spec.Name, Version: c.Version, Labels: c.Spec.Labels, Data: c.Spec.Data}
	})
}
func (k configKind) create(ctx context.Context, name string, data []byte, labels map[string]string) (string, error) {
	r, err := k.api.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
	return r.ID, err
}
func (k configKind) setLabels(ctx context.Context, o swarmObject, labels map[string]string) error {
	return k.api.ConfigUpdate(ctx, o.ID, o.Version, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: o.Name, Labels: labels}, Data: o.Data})
}
func (k configKind) remove(ctx context.Context, id string) error { return k.api.ConfigRemove(ctx, id) }
func (k configKind) usedBy(ctx context.Context, o swarmObject) ([]string, error) {
	return objectUsers(ctx, k.api, o, func(c *swarm.ContainerSpec) []*swarm.ConfigReference { return c.Configs },
		func(r *swarm.ConfigReference) (string, string) { return r.ConfigID, r.ConfigName })
}
