package stack

// Observing the swarm for a plan: what it has, read stage by stage in the
// order docker/cli's cli/command/stack/swarm deploy uses (networks,
// secrets, configs, then services), each stage's decision left to the
// pure functions of plan.go. Nothing is changed here.

import (
	"context"
	"sort"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// planner holds what every stage of planning one stack needs.
type planner struct {
	api      client.APIClient
	ns       convert.Namespace
	check    bool
	plan     *stackPlan
	pc       *planClient
	netNames map[string]string // network ID -> name
}

// planStack compares the compose model with the swarm and returns what
// must change. It changes nothing.
func planStack(ctx context.Context, api client.APIClient, name string, cfg *composetypes.Config, prune bool, resolveImage string, check bool) (*stackPlan, error) {
	pl := &planner{
		api: api, ns: convert.NewNamespace(name), check: check,
		plan: &stackPlan{netOpts: map[string]network.CreateOptions{}},
		pc:   &planClient{APIClient: api, check: check, secrets: map[string]string{}, configs: map[string]string{}},
	}
	if err := pl.networks(ctx, cfg); err != nil {
		return nil, err
	}
	if err := pl.objects(ctx, cfg); err != nil {
		return nil, err
	}
	if err := pl.services(ctx, name, cfg, prune, resolveImage); err != nil {
		return nil, err
	}
	return pl.plan, nil
}

// networks reads the engine's networks for the ones the services use, as
// docker stack deploy decides them.
func (pl *planner) networks(ctx context.Context, cfg *composetypes.Config) error {
	used := map[string]struct{}{}
	for _, s := range cfg.Services {
		if len(s.Networks) == 0 {
			used["default"] = struct{}{}
		}
		for n := range s.Networks {
			used[n] = struct{}{}
		}
	}
	want, external := convert.Networks(pl.ns, cfg.Networks, used)
	have, err := pl.api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return err
	}
	pl.netNames = map[string]string{}
	for _, n := range have {
		pl.netNames[n.ID] = n.Name
	}
	return pl.plan.networks(want, external, have, pl.check)
}

// objects reads the secrets and configs the file defines.
func (pl *planner) objects(ctx context.Context, cfg *composetypes.Config) error {
	secrets, err := convert.Secrets(pl.ns, cfg.Secrets)
	if err != nil {
		return err
	}
	configs, err := convert.Configs(pl.ns, cfg.Configs)
	if err != nil {
		return err
	}
	err = planObjects(secrets, func(s *swarm.SecretSpec) (*swarm.Annotations, []byte) { return &s.Annotations, s.Data },
		dropRaw(ctx, pl.api.SecretInspectWithRaw), &pl.plan.Secrets, pl.pc.secrets, pl.plan.secret)
	if err != nil {
		return err
	}
	return planObjects(configs, func(c *swarm.ConfigSpec) (*swarm.Annotations, []byte) { return &c.Annotations, c.Data },
		dropRaw(ctx, pl.api.ConfigInspectWithRaw), &pl.plan.Configs, pl.pc.configs, pl.plan.config)
}

// dropRaw is an inspect call without its raw JSON.
func dropRaw[O any](ctx context.Context, inspect func(context.Context, string) (O, []byte, error)) func(string) (O, error) {
	return func(name string) (O, error) {
		o, _, err := inspect(ctx, name)
		return o, err
	}
}

// planObjects plans the secrets or configs (S their spec, O the engine's
// object) the file defines, by name: each is labelled with the hash of its
// data (meta gives its annotations and data) and looked up with inspect;
// a missing one is added to create (and to planned, for the services that
// refer to it), an existing one compared by existing.
func planObjects[S, O any](specs []S, meta func(*S) (*swarm.Annotations, []byte), inspect func(name string) (O, error),
	create *[]S, planned map[string]string, existing func(S, O) error) error {
	name := func(s *S) string { a, _ := meta(s); return a.Name }
	sort.Slice(specs, func(i, j int) bool { return name(&specs[i]) < name(&specs[j]) })
	for i := range specs {
		a, data := meta(&specs[i])
		a.Labels[modules.HashLabel] = modules.SHA256Hex(data)
		cur, err := inspect(a.Name)
		switch {
		case errdefs.IsNotFound(err):
			*create = append(*create, specs[i])
			planned[a.Name] = plannedID
		case err != nil:
			return err
		default:
			if err := existing(specs[i], cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// services converts the file's services (through pl.pc, which resolves
// the secrets and configs planned above) and reads the stack's running
// ones.
func (pl *planner) services(ctx context.Context, name string, cfg *composetypes.Config, prune bool, resolveImage string) error {
	want, err := convert.Services(ctx, pl.ns, cfg, pl.pc)
	if err != nil {
		return err
	}
	for _, m := range pl.pc.missing {
		pl.plan.Warnings = append(pl.plan.Warnings, "external "+m+" does not exist yet (an earlier step may create it)")
	}
	existing, err := pl.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: modules.LabelFilter(convert.LabelNamespace + "=" + name)})
	if err != nil {
		return err
	}
	byName := map[string]swarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	for _, internal := range sortedKeys(want) {
		full := pl.ns.Scope(internal)
		cur, ok := byName[full]
		if !ok {
			pl.plan.Services = append(pl.plan.Services, servicePlan{Name: full, Action: "create", Spec: want[internal]})
			continue
		}
		nameSwarmNetworks(ctx, pl.api, cur.Spec, pl.netNames)
		pl.plan.Services = append(pl.plan.Services, updatePlan(full, want[internal], cur, resolveImage, pl.netNames))
	}
	if prune {
		for _, n := range sortedKeys(byName) {
			if _, ok := want[pl.ns.Descope(n)]; !ok {
				cur := byName[n]
				pl.plan.Services = append(pl.plan.Services, servicePlan{Name: n, Action: "remove", Current: &cur})
			}
		}
	}
	return nil
}
