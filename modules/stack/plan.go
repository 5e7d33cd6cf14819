package stack

// Planning: the compose model against what the swarm has, as a plan of
// what must change (nothing is changed here), and the plan as a message
// and a diff. The order follows docker/cli's cli/command/stack/swarm
// deploy: networks, secrets, configs, then services.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// servicePlan is what the step does to one service.
type servicePlan struct {
	Name    string
	Action  string // create, update, remove, "" (unchanged)
	Changes []string
	Spec    swarm.ServiceSpec
	Current *swarm.Service
}

// stackPlan is the whole step's plan.
type stackPlan struct {
	Networks []string // to create
	netOpts  map[string]network.CreateOptions
	Secrets  []swarm.SecretSpec
	Configs  []swarm.ConfigSpec
	objNotes []string // object changes (labels) and messages
	labelUpd []func(ctx context.Context) error
	Services []servicePlan
	Warnings []string
}

func (p *stackPlan) changed() bool {
	if len(p.Networks)+len(p.Secrets)+len(p.Configs)+len(p.labelUpd) > 0 {
		return true
	}
	for _, s := range p.Services {
		if s.Action != "" {
			return true
		}
	}
	return false
}

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
	if err := pl.secrets(ctx, cfg); err != nil {
		return nil, err
	}
	if err := pl.configs(ctx, cfg); err != nil {
		return nil, err
	}
	if err := pl.services(ctx, name, cfg, prune, resolveImage); err != nil {
		return nil, err
	}
	return pl.plan, nil
}

// networks plans the networks the services use, as docker stack deploy
// decides them: external ones must exist in swarm scope, the others are
// created when missing.
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
	wantNets, external := convert.Networks(pl.ns, cfg.Networks, used)
	allNets, err := pl.api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return err
	}
	netByName := map[string]network.Summary{}
	pl.netNames = map[string]string{}
	for _, n := range allNets {
		netByName[n.Name] = n
		pl.netNames[n.ID] = n.Name
	}
	for _, n := range external {
		if err := pl.external(n, netByName); err != nil {
			return err
		}
	}
	for _, n := range sortedKeys(wantNets) {
		if _, ok := netByName[n]; ok {
			continue
		}
		o := wantNets[n]
		if o.Driver == "" {
			o.Driver = "overlay"
		}
		pl.plan.Networks = append(pl.plan.Networks, n)
		pl.plan.netOpts[n] = o
	}
	return nil
}

// external checks an external network: it must exist (under --check an
// earlier step may create it) and be swarm-scoped.
func (pl *planner) external(n string, netByName map[string]network.Summary) error {
	if !container.NetworkMode(n).IsUserDefined() {
		return nil
	}
	nw, ok := netByName[n]
	if !ok {
		if pl.check {
			pl.plan.Warnings = append(pl.plan.Warnings, fmt.Sprintf("external network %s does not exist yet (an earlier step may create it)", n))
			return nil
		}
		return fmt.Errorf("network %q is declared as external, but could not be found; create a swarm-scoped network before the stack is deployed", n)
	}
	if nw.Scope != "swarm" {
		return fmt.Errorf("network %q is declared as external, but it is not in the right scope: %q instead of \"swarm\"", n, nw.Scope)
	}
	return nil
}

// secrets plans the secrets the file defines, compared through the hash
// label (the engine never returns a secret's data).
func (pl *planner) secrets(ctx context.Context, cfg *composetypes.Config) error {
	secrets, err := convert.Secrets(pl.ns, cfg.Secrets)
	if err != nil {
		return err
	}
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	for _, s := range secrets {
		s.Labels[modules.HashLabel] = modules.SHA256Hex(s.Data)
		cur, _, err := pl.api.SecretInspectWithRaw(ctx, s.Name)
		switch {
		case errdefs.IsNotFound(err):
			pl.plan.Secrets = append(pl.plan.Secrets, s)
			pl.pc.secrets[s.Name] = plannedID
		case err != nil:
			return err
		default:
			h := cur.Spec.Labels[modules.HashLabel]
			if h != "" && h != s.Labels[modules.HashLabel] {
				return fmt.Errorf("secret %s has changed in the stack's files, but secrets cannot change in place: give it a new name (name: in the file) or manage it with the secret module (rotate = True) as an external secret", s.Name)
			}
			labels := s.Labels
			if h == "" {
				// Created by docker stack deploy: its value cannot be read,
				// so it is taken as is, and no hash is claimed for it.
				labels = withoutHash(labels)
			}
			id, ver, spec := cur.ID, cur.Version, swarm.SecretSpec{Annotations: swarm.Annotations{Name: s.Name, Labels: labels}}
			pl.relabel("secret "+s.Name, cur.Spec.Labels, labels, func(ctx context.Context) error { return pl.api.SecretUpdate(ctx, id, ver, spec) })
		}
	}
	return nil
}

// configs plans the configs the file defines, compared by their data.
func (pl *planner) configs(ctx context.Context, cfg *composetypes.Config) error {
	configs, err := convert.Configs(pl.ns, cfg.Configs)
	if err != nil {
		return err
	}
	sort.Slice(configs, func(i, j int) bool { return configs[i].Name < configs[j].Name })
	for _, c := range configs {
		c.Labels[modules.HashLabel] = modules.SHA256Hex(c.Data)
		cur, _, err := pl.api.ConfigInspectWithRaw(ctx, c.Name)
		switch {
		case errdefs.IsNotFound(err):
			pl.plan.Configs = append(pl.plan.Configs, c)
			pl.pc.configs[c.Name] = plannedID
		case err != nil:
			return err
		default:
			if modules.SHA256Hex(cur.Spec.Data) != c.Labels[modules.HashLabel] {
				return fmt.Errorf("config %s has changed in the stack's files, but configs cannot change in place: give it a new name (name: in the file) or manage it with the config module (rotate = True) as an external config", c.Name)
			}
			labels := c.Labels
			if _, ok := cur.Spec.Labels[modules.HashLabel]; !ok {
				// Created by docker stack deploy: its data was compared
				// above; the hash label is not worth an update.
				labels = withoutHash(labels)
			}
			id, ver, spec := cur.ID, cur.Version, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Name, Labels: labels}, Data: cur.Spec.Data}
			pl.relabel("config "+c.Name, cur.Spec.Labels, labels, func(ctx context.Context) error { return pl.api.ConfigUpdate(ctx, id, ver, spec) })
		}
	}
	return nil
}

// relabel plans an existing object's label update when its labels differ.
func (pl *planner) relabel(what string, cur, want map[string]string, update func(ctx context.Context) error) {
	if ch := modules.LabelChanges(what+" label ", cur, want, true); len(ch) > 0 {
		pl.plan.objNotes = append(pl.plan.objNotes, ch...)
		pl.plan.labelUpd = append(pl.plan.labelUpd, update)
	}
}

// services plans each service: created when missing, updated when its
// normalised spec differs from the running one, removed (prune) when the
// files no longer define it.
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
		pl.plan.Services = append(pl.plan.Services, pl.update(ctx, full, want[internal], cur, resolveImage))
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

// update compares a running service with its spec from the files.
func (pl *planner) update(ctx context.Context, full string, spec swarm.ServiceSpec, cur swarm.Service, resolveImage string) servicePlan {
	spec = carryOver(spec, cur, resolveImage)
	nameSwarmNetworks(ctx, pl.api, cur.Spec, pl.netNames)
	diffs := specDiff(normaliseSpec(cur.Spec, pl.netNames), normaliseSpec(spec, pl.netNames))
	sp := servicePlan{Name: full, Spec: spec, Current: &cur, Changes: diffs}
	if len(diffs) > 0 {
		sp.Action = "update"
	}
	return sp
}

// outputs are the module's outputs: the stack's services and what the
// step creates, updates and removes.
func (p *stackPlan) outputs() map[string]any {
	var names, created, updated, removed []any
	for _, s := range p.Services {
		if s.Action != "remove" {
			names = append(names, s.Name)
		}
		switch s.Action {
		case "create":
			created = append(created, s.Name)
		case "update":
			updated = append(updated, s.Name)
		case "remove":
			removed = append(removed, s.Name)
		}
	}
	return map[string]any{"services": names, "created": created, "updated": updated, "removed": removed}
}

func (p *stackPlan) summary(check bool) string {
	var parts []string
	verb := map[string]string{"create": "created", "update": "updated", "remove": "removed"}
	if check {
		verb = map[string]string{"create": "would create", "update": "would update", "remove": "would remove"}
	}
	for _, a := range []string{"create", "update", "remove"} {
		var n []string
		for _, s := range p.Services {
			if s.Action == a {
				n = append(n, s.Name)
			}
		}
		if len(n) > 0 {
			parts = append(parts, verb[a]+" "+strings.Join(n, ", "))
		}
	}
	if len(p.Networks) > 0 {
		parts = append(parts, verb["create"]+" networks "+strings.Join(p.Networks, ", "))
	}
	for _, s := range p.Secrets {
		parts = append(parts, verb["create"]+" secret "+s.Name)
	}
	for _, c := range p.Configs {
		parts = append(parts, verb["create"]+" config "+c.Name)
	}
	parts = append(parts, p.objNotes...)
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d services unchanged", len(p.Services)))
	}
	parts = append(parts, p.Warnings...)
	return strings.Join(parts, "; ")
}

func (p *stackPlan) diff() string {
	var b strings.Builder
	for _, n := range p.Networks {
		fmt.Fprintf(&b, "+ network %s\n", n)
	}
	for _, s := range p.Secrets {
		fmt.Fprintf(&b, "+ secret %s\n", s.Name)
	}
	for _, c := range p.Configs {
		fmt.Fprintf(&b, "+ config %s\n", c.Name)
	}
	for _, n := range p.objNotes {
		fmt.Fprintf(&b, "~ %s\n", n)
	}
	for _, s := range p.Services {
		switch s.Action {
		case "create":
			fmt.Fprintf(&b, "+ service %s (image %s)\n", s.Name, s.Spec.TaskTemplate.ContainerSpec.Image)
		case "remove":
			fmt.Fprintf(&b, "- service %s\n", s.Name)
		case "update":
			fmt.Fprintf(&b, "~ service %s\n", s.Name)
			for _, c := range s.Changes {
				fmt.Fprintf(&b, "    %s\n", c)
			}
		}
	}
	return b.String()
}
