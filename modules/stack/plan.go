package stack

// Planning, pure: what the file wants against what observe.go read from
// the swarm, as a plan of what must change (apply.go turns it into the
// kit's changes).

import (
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
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
	relabels []labelUpdate // label updates of existing secrets and configs
	Services []servicePlan
	Warnings []string
}

// labelUpdate is a label update of an existing secret or config: the spec to
// write (one of secret, config) at the version read.
type labelUpdate struct {
	what    string   // "secret s_token"
	notes   []string // the label changes, "secret s_token label + tier=db"
	id      string
	version swarm.Version
	secret  *swarm.SecretSpec
	config  *swarm.ConfigSpec
}

// networks plans the networks: external ones must exist (under --check an
// earlier step may create them) in swarm scope, the others are created
// when missing.
func (p *stackPlan) networks(want map[string]network.CreateOptions, external []string, have []network.Summary, check bool) error {
	byName := map[string]network.Summary{}
	for _, n := range have {
		byName[n.Name] = n
	}
	for _, n := range external {
		if !container.NetworkMode(n).IsUserDefined() {
			continue
		}
		nw, ok := byName[n]
		if !ok {
			if check {
				p.Warnings = append(p.Warnings, fmt.Sprintf("external network %s does not exist yet (an earlier step may create it)", n))
				continue
			}
			return fmt.Errorf("network %q is declared as external, but could not be found; create a swarm-scoped network before the stack is deployed", n)
		}
		if nw.Scope != "swarm" {
			return fmt.Errorf("network %q is declared as external, but it is not in the right scope: %q instead of \"swarm\"", n, nw.Scope)
		}
	}
	for _, n := range sortedKeys(want) {
		if _, ok := byName[n]; ok {
			continue
		}
		o := want[n]
		if o.Driver == "" {
			o.Driver = "overlay"
		}
		p.Networks = append(p.Networks, n)
		p.netOpts[n] = o
	}
	return nil
}

// secret compares an existing secret with the file's through the hash
// label (the engine never returns a secret's data).
func (p *stackPlan) secret(s swarm.SecretSpec, cur swarm.Secret) error {
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
	spec := swarm.SecretSpec{Annotations: swarm.Annotations{Name: s.Name, Labels: labels}}
	p.relabel("secret "+s.Name, cur.Spec.Labels, labels, labelUpdate{id: cur.ID, version: cur.Version, secret: &spec})
	return nil
}

// config compares an existing config with the file's by its data.
func (p *stackPlan) config(c swarm.ConfigSpec, cur swarm.Config) error {
	if modules.SHA256Hex(cur.Spec.Data) != c.Labels[modules.HashLabel] {
		return fmt.Errorf("config %s has changed in the stack's files, but configs cannot change in place: give it a new name (name: in the file) or manage it with the config module (rotate = True) as an external config", c.Name)
	}
	labels := c.Labels
	if _, ok := cur.Spec.Labels[modules.HashLabel]; !ok {
		// Created by docker stack deploy: its data was compared
		// above; the hash label is not worth an update.
		labels = withoutHash(labels)
	}
	spec := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Name, Labels: labels}, Data: cur.Spec.Data}
	p.relabel("config "+c.Name, cur.Spec.Labels, labels, labelUpdate{id: cur.ID, version: cur.Version, config: &spec})
	return nil
}

// relabel plans an existing object's label update when its labels differ.
func (p *stackPlan) relabel(what string, cur, want map[string]string, r labelUpdate) {
	if ch := modules.LabelChanges(what+" label ", cur, want, true); len(ch) > 0 {
		r.what, r.notes = what, ch
		p.relabels = append(p.relabels, r)
	}
}

// updatePlan compares a running service with its spec from the files;
// netNames maps the network IDs it may name.
func updatePlan(full string, spec swarm.ServiceSpec, cur swarm.Service, resolveImage string, netNames map[string]string) servicePlan {
	spec = carryOver(spec, cur, resolveImage)
	diffs := specDiff(normaliseSpec(cur.Spec, netNames), normaliseSpec(spec, netNames))
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
