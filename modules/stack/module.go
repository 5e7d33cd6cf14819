// Package stack is the stack module: a compose file deployed as a swarm
// stack, changing only what differs. It is split by job, as docker/cli
// splits cli/command/stack and cli/compose/convert: load.go reads the
// compose files, convert.go and normalise.go bring the file's and the
// engine's specs to one form, observe.go reads the swarm and plan.go
// decides (purely) what changes, apply.go and wait.go carry the plan out,
// remove.go is state = "absent".
package stack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// registered names the modules this package registers (register), so
// conformance_test.go can hold each to the kit.
var registered []string

func register(m *modules.Module) {
	registered = append(registered, m.Name)
	modules.Register(m)
}

func init() {
	register(&modules.Module{
		Name: "stack",
		Doc: `Deploy a compose file as a swarm stack, changing only what differs.

The file is read by docker/cli's own compose loader and converter, so it
means exactly what "docker stack deploy -c FILE NAME" makes of it: networks,
secrets and configs it defines are created (named NAME_x unless they have a
name), external ones must exist. Unlike docker stack deploy, a service is
created, updated or (with prune) removed only when its spec differs from the
running one: both sides are normalised (the engine fills defaults on read:
runtime, restart/update policies, endpoint mode, replicas, network IDs...)
and compared field by field, so deploying an unchanged file again restarts
nothing. --check and --diff show a per-service plan with the differing
fields (environment values are not shown).

Secrets/configs defined in the file are immutable: one whose file changed
fails the step (give it a new name, or manage it with the secret/config
module with rotate = True and reference it as external). Compose files are
read on the controller, relative to the playbook; env supplies the
variables for ${VAR} interpolation (the controller's environment is not
used: pass env("VAR") explicitly).

resolve_image: never (default) uses image references as written, which is
what a registry-less setup needs (images loaded with the image module);
changed and always let the engine's client pin the image digest from the
registry when a service is created or updated (always does not force an
update of an otherwise unchanged service).

With wait = True (default) the step waits until every service of the stack
has converged - running tasks = replicas and no rollout in progress - up to
the step's timeout argument (5m when none); a failed or paused rollout fails
the step with the tasks' errors.

    stack(hosts("managers")[0], name = "vault", compose = "stacks/vault.yml",
          env = {"TAG": "1.2"}, prune = True)`,
		Params: []modules.Param{
			{Name: "name", Type: modules.String, Required: true, Doc: "stack name (namespace of its services, networks, secrets, configs)"},
			{Name: "compose", Type: modules.Any, Doc: "compose file, or list of files merged in order, relative to the playbook (required unless state is absent)"},
			{Name: "state", Type: modules.String, Default: "present", Choices: []string{"present", "absent"}, Doc: "absent removes the stack's services, then its networks, secrets and configs (modules/stack/remove.go)"},
			{Name: "env", Type: modules.Dict, Doc: "variables for ${VAR} interpolation in the compose files"},
			{Name: "prune", Type: modules.Bool, Default: false, Doc: "remove services of the stack that the files no longer define"},
			{Name: "resolve_image", Type: modules.String, Default: "never", Choices: []string{"always", "changed", "never"}, Doc: "query the registry for image digests when creating/updating services (never for registry-less setups)"},
			{Name: "wait", Type: modules.Bool, Default: true, Doc: "wait until every service has converged; a failed rollout fails the step"},
		},
		Outputs: map[string]string{
			"services": "the stack's service names",
			"created":  "services created by this step",
			"updated":  "services updated by this step",
			"removed":  "services removed by this step (prune)",
		},
		Run: modules.WithDocker(runStack),
	})
}

func runStack(ctx context.Context, t *modules.Target, p modules.Params, api client.APIClient) (*modules.Result, error) {
	api, err := modules.ManagerAPI(ctx, t, api)
	if err != nil {
		return nil, err
	}
	name := p.String("name")
	if p.String("state") == "absent" {
		return removeStack(ctx, t, api, name)
	}
	files, err := composeFiles(p)
	if err != nil {
		return nil, err
	}
	cfg, warnings, err := loadCompose(t.Dir, files, modules.StringMap(p.Dict("env")))
	if err != nil {
		return nil, err
	}
	plan, err := planStack(ctx, api, name, cfg, p.Bool("prune"), p.String("resolve_image"), t.Check)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	plan.Warnings = append(warnings, plan.Warnings...)
	kp := plan.changes(api, p.String("resolve_image"))
	res, err := kp.Apply(ctx, t, &modules.Result{Outputs: plan.outputs()})
	if err != nil || t.Check || !p.Bool("wait") {
		return res, err
	}
	// Even when nothing changed: an earlier run's rollout may still be on.
	if err := waitStack(ctx, api, name, modules.WaitBudget(ctx, 5*time.Minute)); err != nil {
		return res, kp.Errorf("wait: %w", err)
	}
	return res, nil
}

// composeFiles is the compose argument as a list of files.
func composeFiles(p modules.Params) ([]string, error) {
	switch c := p["compose"].(type) {
	case string:
		return []string{c}, nil
	case []any:
		return p.Strings("compose"), nil
	default:
		return nil, fmt.Errorf("compose: want a file name or a list of them, got %T", c)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
