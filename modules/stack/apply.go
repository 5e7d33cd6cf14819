package stack

// The plan as the module kit's changes (modules/kit.go), each with the
// engine calls that carry it out, in the order docker stack deploy uses:
// networks, secrets and configs first, then services.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// changes is the plan as the kit's Plan; resolveImage says whether the
// engine asks the registry for image digests.
func (p *stackPlan) changes(api client.APIClient, resolveImage string) *modules.Plan {
	kp := modules.NewPlan("stack", fmt.Sprintf("%d services unchanged", len(p.Services)))
	for _, n := range p.Networks {
		kp.Add("create network "+n, "+ network "+n+"\n", func(ctx context.Context) error {
			_, err := api.NetworkCreate(ctx, n, p.netOpts[n])
			return err
		})
	}
	for _, s := range p.Secrets {
		p.addCreate(kp, "secret", s.Name, func(ctx context.Context) (string, error) {
			r, err := api.SecretCreate(ctx, s)
			return r.ID, err
		})
	}
	for _, c := range p.Configs {
		p.addCreate(kp, "config", c.Name, func(ctx context.Context) (string, error) {
			r, err := api.ConfigCreate(ctx, c)
			return r.ID, err
		})
	}
	for _, r := range p.relabels {
		kp.Add("relabel "+r.what, "~ "+strings.Join(r.notes, "\n~ ")+"\n", func(ctx context.Context) error {
			return applyRelabel(ctx, api, r)
		})
	}
	query := resolveImage == "always" || resolveImage == "changed"
	for i := range p.Services {
		if s := &p.Services[i]; s.Action != "" {
			kp.Add(s.what(), s.diff(), func(ctx context.Context) error { return s.apply(ctx, api, query) })
		}
	}
	for _, w := range p.Warnings {
		kp.Note(w)
	}
	return kp
}

// addCreate adds the change that creates a secret or config the file
// defines (create returns its ID); the services that refer to it were
// planned with plannedID, which the ID replaces.
func (p *stackPlan) addCreate(kp *modules.Plan, kind, name string, create func(ctx context.Context) (string, error)) {
	kp.Add("create "+kind+" "+name, "+ "+kind+" "+name+"\n", func(ctx context.Context) error {
		id, err := create(ctx)
		if err == nil {
			p.resolveID(kind, name, id)
		}
		return err
	})
}

// resolveID sets the ID of the secret or config named name in the planned
// services' references to it.
func (p *stackPlan) resolveID(kind, name, id string) {
	for _, s := range p.Services {
		cs := s.Spec.TaskTemplate.ContainerSpec
		if cs == nil {
			continue
		}
		for _, r := range cs.Secrets {
			if kind == "secret" && r.SecretName == name && r.SecretID == plannedID {
				r.SecretID = id
			}
		}
		for _, r := range cs.Configs {
			if kind == "config" && r.ConfigName == name && r.ConfigID == plannedID {
				r.ConfigID = id
			}
		}
	}
}

func applyRelabel(ctx context.Context, api client.APIClient, r labelUpdate) error {
	if r.secret != nil {
		return api.SecretUpdate(ctx, r.id, r.version, *r.secret)
	}
	return api.ConfigUpdate(ctx, r.id, r.version, *r.config)
}

// what is the change's phrase: "create service web_app", "update service
// web_app (image, env)", "remove service web_old".
func (s *servicePlan) what() string {
	w := s.Action + " service " + s.Name
	if s.Action == "update" {
		w += " (" + strings.Join(changedFields(s.Changes), ", ") + ")"
	}
	return w
}

// diff is the service's part of --diff: its image when created, its
// differing fields when updated (environment values never shown).
func (s *servicePlan) diff() string {
	switch s.Action {
	case "create":
		return fmt.Sprintf("+ service %s (image %s)\n", s.Name, s.Spec.TaskTemplate.ContainerSpec.Image)
	case "remove":
		return fmt.Sprintf("- service %s\n", s.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "~ service %s\n", s.Name)
	for _, c := range s.Changes {
		fmt.Fprintf(&b, "    %s\n", c)
	}
	return b.String()
}

func (s *servicePlan) apply(ctx context.Context, api client.APIClient, query bool) error {
	switch s.Action {
	case "create":
		_, err := api.ServiceCreate(ctx, s.Spec, swarm.ServiceCreateOptions{QueryRegistry: query})
		return err
	case "update":
		_, err := api.ServiceUpdate(ctx, s.Current.ID, s.Current.Version, s.Spec, swarm.ServiceUpdateOptions{QueryRegistry: query})
		return err
	}
	return api.ServiceRemove(ctx, s.Current.ID)
}

// changedFields names the fields specDiff's lines are about, in order
// and once each: "TaskTemplate.ContainerSpec.Image: ..." is image,
// "Mode.Replicated.Replicas: ..." replicas, "Labels.x: ..." labels.
func changedFields(changes []string) []string {
	var out []string
	for _, c := range changes {
		path, _, _ := strings.Cut(c, ":")
		for _, prefix := range []string{"TaskTemplate.ContainerSpec.", "TaskTemplate.", "Mode.Replicated."} {
			path = strings.TrimPrefix(path, prefix)
		}
		f, _, _ := strings.Cut(path, ".")
		f, _, _ = strings.Cut(f, "[")
		if f = strings.ToLower(f); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
