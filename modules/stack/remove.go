package stack

// stack(state = "absent"): what `docker stack rm` does, observed first so a
// second run (or --check) reports exactly what is left to remove.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// stackObjects are a stack's objects, found by its namespace label.
type stackObjects struct {
	services, networks, secrets, configs []string // IDs
	names                                []string // "service web_web", ...
}

// add records one object: its ID in ids, "kind name" in names.
func (o *stackObjects) add(ids *[]string, kind, id, name string) {
	*ids = append(*ids, id)
	o.names = append(o.names, kind+" "+name)
}

func listStack(ctx context.Context, api client.APIClient, name string) (stackObjects, error) {
	var o stackObjects
	f := modules.LabelFilter(convert.LabelNamespace + "=" + name)
	svcs, err := api.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return o, err
	}
	for _, s := range svcs {
		o.add(&o.services, "service", s.ID, s.Spec.Name)
	}
	nets, err := api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return o, err
	}
	for _, n := range nets {
		o.add(&o.networks, "network", n.ID, n.Name)
	}
	secs, err := api.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	if err != nil {
		return o, err
	}
	for _, s := range secs {
		o.add(&o.secrets, "secret", s.ID, s.Spec.Name)
	}
	cfgs, err := api.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	if err != nil {
		return o, err
	}
	for _, c := range cfgs {
		o.add(&o.configs, "config", c.ID, c.Spec.Name)
	}
	sort.Strings(o.names)
	return o, nil
}

func removeStack(ctx context.Context, t *modules.Target, api client.APIClient, name string) (*modules.Result, error) {
	o, err := listStack(ctx, api, name)
	if err != nil {
		return nil, err
	}
	res := &modules.Result{Outputs: map[string]any{"services": []any{}, "created": []any{}, "updated": []any{}, "removed": []any{}}}
	if len(o.names) == 0 {
		res.Msg = "stack " + name + " absent"
		return res, nil
	}
	res.Changed = true
	res.Msg = "stack " + name + " removed: " + strings.Join(o.names, ", ")
	if t.Diff {
		res.Diff = "- " + strings.Join(o.names, "\n- ") + "\n"
	}
	if t.Check {
		return res, nil
	}
	for _, id := range o.services {
		if err := api.ServiceRemove(ctx, id); err != nil {
			return nil, fmt.Errorf("stack %s: remove service: %w", name, err)
		}
	}
	// Networks stay attached until the services' tasks are gone: retry.
	err = modules.WaitUntil(ctx, modules.WaitBudget(ctx, 2*time.Minute), time.Second, func() (bool, string, error) {
		left := ""
		for _, id := range o.networks {
			if err := api.NetworkRemove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
				left = err.Error()
			}
		}
		return left == "", left, nil
	})
	if err != nil {
		return nil, fmt.Errorf("stack %s: remove networks: %w", name, err)
	}
	for _, id := range o.secrets {
		if err := api.SecretRemove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("stack %s: remove secret: %w", name, err)
		}
	}
	for _, id := range o.configs {
		if err := api.ConfigRemove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("stack %s: remove config: %w", name, err)
		}
	}
	return res, nil
}
