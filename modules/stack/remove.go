package stack

// stack(state = "absent"): what `docker stack rm` does, observed first so a
// second run (or --check) reports exactly what is left to remove.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// stackObject is one object of a stack, found by its namespace label.
type stackObject struct {
	kind, id, name string // kind: service, network, secret or config
}

// listStack lists a stack's objects in the order docker stack rm removes
// them: services, networks, secrets, configs, each kind by name.
func listStack(ctx context.Context, api client.APIClient, name string) ([]stackObject, error) {
	f := modules.LabelFilter(convert.LabelNamespace + "=" + name)
	svcs, err1 := api.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	nets, err2 := api.NetworkList(ctx, network.ListOptions{Filters: f})
	secs, err3 := api.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	cfgs, err4 := api.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	o := objects("service", svcs, func(s swarm.Service) (string, string) { return s.ID, s.Spec.Name })
	o = append(o, objects("network", nets, func(n network.Summary) (string, string) { return n.ID, n.Name })...)
	o = append(o, objects("secret", secs, func(s swarm.Secret) (string, string) { return s.ID, s.Spec.Name })...)
	return append(o, objects("config", cfgs, func(c swarm.Config) (string, string) { return c.ID, c.Spec.Name })...), nil
}

// objects are the listed objects of one kind, by name; idName gives an
// object's ID and name.
func objects[T any](kind string, l []T, idName func(T) (string, string)) []stackObject {
	out := make([]stackObject, len(l))
	for i, x := range l {
		out[i].kind = kind
		out[i].id, out[i].name = idName(x)
	}
	slices.SortFunc(out, func(a, b stackObject) int { return strings.Compare(a.name, b.name) })
	return out
}

func removeStack(ctx context.Context, t *modules.Target, api client.APIClient, name string) (*modules.Result, error) {
	objs, err := listStack(ctx, api, name)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	kp := modules.NewPlan("stack", "stack "+name+" absent")
	for _, o := range objs {
		kp.Add("remove "+o.kind+" "+o.name, "- "+o.kind+" "+o.name+"\n", func(ctx context.Context) error { return o.remove(ctx, api) })
	}
	return kp.Apply(ctx, t, &modules.Result{Outputs: map[string]any{"services": []any{}, "created": []any{}, "updated": []any{}, "removed": []any{}}})
}

// remove removes the object; one already gone is fine.
func (o stackObject) remove(ctx context.Context, api client.APIClient) error {
	var err error
	switch o.kind {
	case "service":
		return api.ServiceRemove(ctx, o.id)
	case "network":
		// A network stays attached until the services' tasks are gone: retry.
		return modules.WaitUntil(ctx, modules.WaitBudget(ctx, 2*time.Minute), time.Second, func() (bool, string, error) {
			if err := api.NetworkRemove(ctx, o.id); err != nil && !errdefs.IsNotFound(err) {
				return false, err.Error(), nil
			}
			return true, "", nil
		})
	case "secret":
		err = api.SecretRemove(ctx, o.id)
	case "config":
		err = api.ConfigRemove(ctx, o.id)
	}
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}
