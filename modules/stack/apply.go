package stack

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// applyStack carries out a plan: networks, secrets and configs first, as
// docker stack deploy does, then services.
func applyStack(ctx context.Context, api client.APIClient, name string, plan *stackPlan, resolveImage string) error {
	for _, n := range plan.Networks {
		if _, err := api.NetworkCreate(ctx, n, plan.netOpts[n]); err != nil {
			return fmt.Errorf("create network %s: %w", n, err)
		}
	}
	for _, s := range plan.Secrets {
		if _, err := api.SecretCreate(ctx, s); err != nil {
			return fmt.Errorf("create secret %s: %w", s.Name, err)
		}
	}
	for _, c := range plan.Configs {
		if _, err := api.ConfigCreate(ctx, c); err != nil {
			return fmt.Errorf("create config %s: %w", c.Name, err)
		}
	}
	for _, r := range plan.relabels {
		if err := applyRelabel(ctx, api, r); err != nil {
			return err
		}
	}
	// Secret and config IDs were placeholders while planning when this step
	// creates them: look the real ones up now.
	if len(plan.Secrets)+len(plan.Configs) > 0 {
		if err := resolvePlannedIDs(ctx, api, plan); err != nil {
			return err
		}
	}
	query := resolveImage == "always" || resolveImage == "changed"
	for _, s := range plan.Services {
		switch s.Action {
		case "create":
			if _, err := api.ServiceCreate(ctx, s.Spec, swarm.ServiceCreateOptions{QueryRegistry: query}); err != nil {
				return fmt.Errorf("create service %s: %w", s.Name, err)
			}
		case "update":
			r, err := api.ServiceUpdate(ctx, s.Current.ID, s.Current.Version, s.Spec, swarm.ServiceUpdateOptions{QueryRegistry: query})
			if err != nil {
				return fmt.Errorf("update service %s: %w", s.Name, err)
			}
			_ = r.Warnings
		case "remove":
			if err := api.ServiceRemove(ctx, s.Current.ID); err != nil {
				return fmt.Errorf("remove service %s: %w", s.Name, err)
			}
		}
	}
	return nil
}

func applyRelabel(ctx context.Context, api client.APIClient, r labelUpdate) error {
	if r.secret != nil {
		return api.SecretUpdate(ctx, r.id, r.version, *r.secret)
	}
	return api.ConfigUpdate(ctx, r.id, r.version, *r.config)
}

func resolvePlannedIDs(ctx context.Context, api client.APIClient, plan *stackPlan) error {
	secrets, err := api.SecretList(ctx, swarm.SecretListOptions{})
	if err != nil {
		return err
	}
	configs, err := api.ConfigList(ctx, swarm.ConfigListOptions{})
	if err != nil {
		return err
	}
	sid, cid := map[string]string{}, map[string]string{}
	for _, s := range secrets {
		sid[s.Spec.Name] = s.ID
	}
	for _, c := range configs {
		cid[c.Spec.Name] = c.ID
	}
	for i := range plan.Services {
		cs := plan.Services[i].Spec.TaskTemplate.ContainerSpec
		if cs == nil {
			continue
		}
		for _, r := range cs.Secrets {
			if r.SecretID == plannedID {
				r.SecretID = sid[r.SecretName]
			}
		}
		for _, r := range cs.Configs {
			if r.ConfigID == plannedID {
				r.ConfigID = cid[r.ConfigName]
			}
		}
	}
	return nil
}
