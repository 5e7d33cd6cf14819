package modules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"gopkg.in/yaml.v3"
)

func init() {
	Register(&Module{
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
		Params: []Param{
			{Name: "name", Type: String, Required: true, Doc: "stack name (namespace of its services, networks, secrets, configs)"},
			{Name: "compose", Type: Any, Doc: "compose file, or list of files merged in order, relative to the playbook (required unless state is absent)"},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "absent removes the stack's services, then its networks, secrets and configs (stack_remove.go)"},
			{Name: "env", Type: Dict, Doc: "variables for ${VAR} interpolation in the compose files"},
			{Name: "prune", Type: Bool, Default: false, Doc: "remove services of the stack that the files no longer define"},
			{Name: "resolve_image", Type: String, Default: "never", Choices: []string{"always", "changed", "never"}, Doc: "query the registry for image digests when creating/updating services (never for registry-less setups)"},
			{Name: "wait", Type: Bool, Default: true, Doc: "wait until every service has converged; a failed rollout fails the step"},
		},
		Outputs: map[string]string{
			"services": "the stack's service names",
			"created":  "services created by this step",
			"updated":  "services updated by this step",
			"removed":  "services removed by this step (prune)",
		},
		Run: withDocker(runStack),
	})
}

// loadCompose reads compose files the way `docker stack deploy` does
// (cli/command/stack/loader), with interpolation from env only.
func loadCompose(dir string, files []string, env map[string]string) (*composetypes.Config, []string, error) {
	if len(files) == 0 {
		return nil, nil, errors.New("compose: give at least one file")
	}
	var details composetypes.ConfigDetails
	for i, f := range files {
		if !filepath.IsAbs(f) && dir != "" {
			f = filepath.Join(dir, f)
		}
		if i == 0 {
			details.WorkingDir = filepath.Dir(f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := loader.ParseYAML(data)
		if err != nil {
			return nil, nil, yamlSyntaxError(f, data, err)
		}
		details.ConfigFiles = append(details.ConfigFiles, composetypes.ConfigFile{Filename: f, Config: cfg})
	}
	details.Version = schema.Version(details.ConfigFiles[0].Config)
	details.Environment = env
	if details.Environment == nil {
		details.Environment = map[string]string{}
	}
	var dicts []map[string]any
	for _, f := range details.ConfigFiles {
		dicts = append(dicts, f.Config)
	}
	cfg, err := loader.Load(details)
	if err != nil {
		var fpe *loader.ForbiddenPropertiesError
		if errors.As(err, &fpe) {
			return nil, nil, fmt.Errorf("compose file contains unsupported options: %s", strings.Join(sortedKeys(fpe.Properties), ", "))
		}
		return nil, nil, locateComposeError(details.ConfigFiles, err)
	}
	var warnings []string
	if u := loader.GetUnsupportedProperties(dicts...); len(u) > 0 {
		warnings = append(warnings, "ignoring unsupported options: "+strings.Join(u, ", "))
	}
	if d := loader.GetDeprecatedProperties(dicts...); len(d) > 0 {
		warnings = append(warnings, "ignoring deprecated options: "+strings.Join(sortedKeys(d), ", "))
	}
	for _, s := range cfg.Services {
		if s.Image == "" {
			return nil, nil, fmt.Errorf("service %s: no image specified", s.Name)
		}
		if _, err := reference.ParseAnyReference(s.Image); err != nil {
			return nil, nil, fmt.Errorf("service %s: invalid image reference: %w", s.Name, err)
		}
	}
	return cfg, warnings, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError turns a YAML parser error into "FILE:LINE: message".
// The parser names the line where the enclosing block starts ("did not
// find expected key" on a mis-indented key reports the mapping's first
// line); the first line at which the file stops parsing with that same
// error is where to look, so that is the line given.
func yamlSyntaxError(file string, data []byte, err error) error {
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	line, msg := m[1], m[2]
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) <= 2000 {
		for n := 1; n <= len(lines); n++ {
			var v any
			if perr := yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &v); perr != nil && perr.Error() == err.Error() {
				if ls := strconv.Itoa(n); ls != line {
					return fmt.Errorf("%s:%s: %s (in the block that starts at line %s)", file, ls, msg, line)
				}
				break
			}
		}
	}
	return fmt.Errorf("%s:%s: %s", file, line, msg)
}

// locateComposeError prefixes a compose schema error ("services.web
// Additional property replicas is not allowed", "services.web.deploy.replicas
// must be a integer") with the file and line of the property it names.
func locateComposeError(files []composetypes.ConfigFile, err error) error {
	msg := err.Error()
	field, rest, ok := strings.Cut(msg, " ")
	if !ok || !(field == "(root)" || strings.Contains(field, ".") || strings.HasPrefix(rest, "Additional property ") || strings.HasPrefix(rest, "must be ")) {
		return onlyFile(files, err)
	}
	var path []string
	if field != "(root)" {
		path = strings.Split(field, ".")
	}
	if p, _, ok := strings.Cut(strings.TrimPrefix(rest, "Additional property "), " is not allowed"); ok && strings.HasPrefix(rest, "Additional property ") {
		path = append(path, p)
	}
	for _, f := range files {
		data, rerr := os.ReadFile(f.Filename)
		if rerr != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		if line := yamlPathLine(doc.Content[0], path); line > 0 {
			return fmt.Errorf("%s:%d: %s", f.Filename, line, msg)
		}
	}
	return onlyFile(files, err)
}

// onlyFile names the file when there is only one to blame.
func onlyFile(files []composetypes.ConfigFile, err error) error {
	if len(files) == 1 {
		return fmt.Errorf("%s: %w", files[0].Filename, err)
	}
	return err
}

// yamlPathLine returns the line of the key (or item) at path under n, 0
// when the path is not there.
func yamlPathLine(n *yaml.Node, path []string) int {
	line := n.Line
	for _, k := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return 0
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(n.Content) {
				return 0
			}
			n = n.Content[i]
			line = n.Line
		default:
			return 0
		}
	}
	return line
}

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
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, s := range l {
		have[s.Spec.Name] = true
	}
	for _, p := range c.planned("secret", o.Filters.Get("name"), have, c.secrets) {
		l = append(l, swarm.Secret{ID: p[0], Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: p[1]}}})
	}
	return l, nil
}

func (c *planClient) ConfigList(ctx context.Context, o swarm.ConfigListOptions) ([]swarm.Config, error) {
	l, err := c.APIClient.ConfigList(ctx, o)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, s := range l {
		have[s.Spec.Name] = true
	}
	for _, p := range c.planned("config", o.Filters.Get("name"), have, c.configs) {
		l = append(l, swarm.Config{ID: p[0], Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: p[1]}}})
	}
	return l, nil
}

// planned returns {ID, name} for each asked name the engine lacks: one this
// step creates, or in check mode a placeholder (recorded as missing).
func (c *planClient) planned(kind string, asked []string, have map[string]bool, created map[string]string) [][2]string {
	var out [][2]string
	for _, n := range asked {
		if have[n] {
			continue
		}
		if id, ok := created[n]; ok {
			out = append(out, [2]string{id, n})
		} else if c.check {
			c.missing = append(c.missing, kind+" "+n)
			out = append(out, [2]string{plannedID, n})
		}
	}
	return out
}

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

func runStack(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	api, _, err := managerAPI(ctx, t, api)
	if err != nil {
		return nil, err
	}
	if p.String("state") == "absent" {
		return removeStack(ctx, t, api, p.String("name"))
	}
	var files []string
	switch c := p["compose"].(type) {
	case string:
		files = []string{c}
	case []any:
		files = p.Strings("compose")
	default:
		return nil, fmt.Errorf("compose: want a file name or a list of them, got %T", c)
	}
	cfg, warnings, err := loadCompose(t.Dir, files, stringMap(p.Dict("env")))
	if err != nil {
		return nil, err
	}
	plan, err := planStack(ctx, api, p.String("name"), cfg, p.Bool("prune"), p.String("resolve_image"), t.Check)
	if err != nil {
		return nil, err
	}
	plan.Warnings = append(warnings, plan.Warnings...)
	res := &Result{Outputs: map[string]any{}}
	var names, created, updated, removed []any
	for _, s := range plan.Services {
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
	res.Outputs["services"], res.Outputs["created"], res.Outputs["updated"], res.Outputs["removed"] = names, created, updated, removed
	res.Changed = plan.changed()
	res.Msg = plan.summary(t.Check)
	if t.Diff {
		res.Diff = plan.diff()
	}
	if t.Check {
		return res, nil
	}
	if err := applyStack(ctx, api, p.String("name"), plan, p.String("resolve_image")); err != nil {
		return nil, err
	}
	if p.Bool("wait") {
		if err := waitStack(ctx, api, p.String("name"), waitBudget(ctx, 5*time.Minute)); err != nil {
			return res, err
		}
	}
	return res, nil
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

// planStack compares the compose model with the swarm and returns what
// must change. It changes nothing.
func planStack(ctx context.Context, api client.APIClient, name string, cfg *composetypes.Config, prune bool, resolveImage string, check bool) (*stackPlan, error) {
	ns := convert.NewNamespace(name)
	plan := &stackPlan{netOpts: map[string]network.CreateOptions{}}

	// Networks: the ones services use, as docker stack deploy decides.
	used := map[string]struct{}{}
	for _, s := range cfg.Services {
		if len(s.Networks) == 0 {
			used["default"] = struct{}{}
		}
		for n := range s.Networks {
			used[n] = struct{}{}
		}
	}
	wantNets, external := convert.Networks(ns, cfg.Networks, used)
	allNets, err := api.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, err
	}
	netByName := map[string]network.Summary{}
	netNames := map[string]string{} // ID -> name
	for _, n := range allNets {
		netByName[n.Name] = n
		netNames[n.ID] = n.Name
	}
	for _, n := range external {
		if !container.NetworkMode(n).IsUserDefined() {
			continue
		}
		nw, ok := netByName[n]
		if !ok {
			if check {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("external network %s does not exist yet (an earlier step may create it)", n))
				continue
			}
			return nil, fmt.Errorf("network %q is declared as external, but could not be found; create a swarm-scoped network before the stack is deployed", n)
		}
		if nw.Scope != "swarm" {
			return nil, fmt.Errorf("network %q is declared as external, but it is not in the right scope: %q instead of \"swarm\"", n, nw.Scope)
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
		plan.Networks = append(plan.Networks, n)
		plan.netOpts[n] = o
	}

	// Secrets and configs the file defines, compared through the hash label.
	pc := &planClient{APIClient: api, check: check, secrets: map[string]string{}, configs: map[string]string{}}
	secrets, err := convert.Secrets(ns, cfg.Secrets)
	if err != nil {
		return nil, err
	}
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	for _, s := range secrets {
		s.Labels[hashLabel] = sha256Hex(s.Data)
		cur, _, err := api.SecretInspectWithRaw(ctx, s.Name)
		switch {
		case errdefs.IsNotFound(err):
			plan.Secrets = append(plan.Secrets, s)
			pc.secrets[s.Name] = plannedID
		case err != nil:
			return nil, err
		default:
			h := cur.Spec.Labels[hashLabel]
			if h != "" && h != s.Labels[hashLabel] {
				return nil, fmt.Errorf("secret %s has changed in the stack's files, but secrets cannot change in place: give it a new name (name: in the file) or manage it with the secret module (rotate = True) as an external secret", s.Name)
			}
			labels := s.Labels
			if h == "" {
				// Created by docker stack deploy: its value cannot be read,
				// so it is taken as is, and no hash is claimed for it.
				labels = withoutHash(labels)
			}
			var ch changes
			labelChanges(&ch, "secret "+s.Name+" label ", cur.Spec.Labels, labels, true)
			if len(ch) > 0 {
				plan.objNotes = append(plan.objNotes, ch...)
				id, ver, spec := cur.ID, cur.Version, swarm.SecretSpec{Annotations: swarm.Annotations{Name: s.Name, Labels: labels}}
				plan.labelUpd = append(plan.labelUpd, func(ctx context.Context) error { return api.SecretUpdate(ctx, id, ver, spec) })
			}
		}
	}
	configs, err := convert.Configs(ns, cfg.Configs)
	if err != nil {
		return nil, err
	}
	sort.Slice(configs, func(i, j int) bool { return configs[i].Name < configs[j].Name })
	for _, c := range configs {
		c.Labels[hashLabel] = sha256Hex(c.Data)
		cur, _, err := api.ConfigInspectWithRaw(ctx, c.Name)
		switch {
		case errdefs.IsNotFound(err):
			plan.Configs = append(plan.Configs, c)
			pc.configs[c.Name] = plannedID
		case err != nil:
			return nil, err
		default:
			if sha256Hex(cur.Spec.Data) != c.Labels[hashLabel] {
				return nil, fmt.Errorf("config %s has changed in the stack's files, but configs cannot change in place: give it a new name (name: in the file) or manage it with the config module (rotate = True) as an external config", c.Name)
			}
			labels := c.Labels
			if _, ok := cur.Spec.Labels[hashLabel]; !ok {
				// Created by docker stack deploy: its data was compared
				// above; the hash label is not worth an update.
				labels = withoutHash(labels)
			}
			var ch changes
			labelChanges(&ch, "config "+c.Name+" label ", cur.Spec.Labels, labels, true)
			if len(ch) > 0 {
				plan.objNotes = append(plan.objNotes, ch...)
				id, ver, spec := cur.ID, cur.Version, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Name, Labels: labels}, Data: cur.Spec.Data}
				plan.labelUpd = append(plan.labelUpd, func(ctx context.Context) error { return api.ConfigUpdate(ctx, id, ver, spec) })
			}
		}
	}

	// Services.
	want, err := convert.Services(ctx, ns, cfg, pc)
	if err != nil {
		return nil, err
	}
	for _, m := range pc.missing {
		plan.Warnings = append(plan.Warnings, "external "+m+" does not exist yet (an earlier step may create it)")
	}
	existing, err := api.ServiceList(ctx, swarm.ServiceListOptions{Filters: labelFilter(convert.LabelNamespace + "=" + name)})
	if err != nil {
		return nil, err
	}
	byName := map[string]swarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	for _, internal := range sortedKeys(want) {
		spec := want[internal]
		full := ns.Scope(internal)
		cur, ok := byName[full]
		if !ok {
			plan.Services = append(plan.Services, servicePlan{Name: full, Action: "create", Spec: spec})
			continue
		}
		spec = carryOver(spec, cur, resolveImage)
		nameSwarmNetworks(ctx, api, cur.Spec, netNames)
		diffs := specDiff(normaliseSpec(cur.Spec, netNames), normaliseSpec(spec, netNames))
		sp := servicePlan{Name: full, Spec: spec, Current: &cur, Changes: diffs}
		if len(diffs) > 0 {
			sp.Action = "update"
		}
		plan.Services = append(plan.Services, sp)
	}
	if prune {
		for _, n := range sortedKeys(byName) {
			if _, ok := want[ns.Descope(n)]; !ok {
				cur := byName[n]
				plan.Services = append(plan.Services, servicePlan{Name: n, Action: "remove", Current: &cur})
			}
		}
	}
	return plan, nil
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

// withoutHash returns labels without hashLabel.
func withoutHash(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != hashLabel {
			out[k] = v
		}
	}
	return out
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

// normaliseSpec maps every form the engine treats alike to one canonical
// value, so that a spec as converted from the file and the same spec as
// read back from the engine compare equal. It returns a JSON-like tree with
// zero values removed.
func normaliseSpec(in swarm.ServiceSpec, netNames map[string]string) map[string]any {
	var s swarm.ServiceSpec
	b, _ := json.Marshal(in)
	_ = json.Unmarshal(b, &s)
	tt := &s.TaskTemplate
	if tt.Runtime == swarm.RuntimeContainer {
		tt.Runtime = ""
	}
	if cs := tt.ContainerSpec; cs != nil {
		if cs.Isolation == container.IsolationDefault {
			cs.Isolation = ""
		}
		if cs.StopGracePeriod == nil {
			// The engine's default, which service inspect shows.
			d := 10 * time.Second
			cs.StopGracePeriod = &d
		}
		sort.SliceStable(cs.Secrets, func(i, j int) bool { return cs.Secrets[i].SecretName < cs.Secrets[j].SecretName })
		sort.SliceStable(cs.Configs, func(i, j int) bool { return cs.Configs[i].ConfigName < cs.Configs[j].ConfigName })
	}
	// Restart policy: swarmkit's defaults are condition any, delay 5s,
	// unlimited attempts (0).
	rp := tt.RestartPolicy
	if rp == nil {
		rp = &swarm.RestartPolicy{}
	}
	if rp.Condition == "" {
		rp.Condition = swarm.RestartPolicyConditionAny
	}
	if rp.Delay == nil {
		d := 5 * time.Second
		rp.Delay = &d
	}
	tt.RestartPolicy = rp
	s.UpdateConfig = normaliseUpdate(s.UpdateConfig)
	s.RollbackConfig = normaliseUpdate(s.RollbackConfig)
	if s.Mode.Replicated == nil && s.Mode.Global == nil && s.Mode.ReplicatedJob == nil && s.Mode.GlobalJob == nil {
		s.Mode.Replicated = &swarm.ReplicatedService{}
	}
	if r := s.Mode.Replicated; r != nil && r.Replicas == nil {
		one := uint64(1)
		r.Replicas = &one
	}
	ep := s.EndpointSpec
	if ep == nil {
		ep = &swarm.EndpointSpec{}
	}
	if ep.Mode == "" {
		ep.Mode = swarm.ResolutionModeVIP
	}
	for i := range ep.Ports {
		if ep.Ports[i].Protocol == "" {
			ep.Ports[i].Protocol = swarm.PortConfigProtocolTCP
		}
		if ep.Ports[i].PublishMode == "" {
			ep.Ports[i].PublishMode = swarm.PortConfigPublishModeIngress
		}
	}
	s.EndpointSpec = ep
	// Networks: the engine stores network IDs; files name networks. Old
	// specs used the deprecated ServiceSpec.Networks.
	nets := append(tt.Networks, s.Networks...) //nolint:staticcheck // reading the deprecated field is the point
	s.Networks = nil                           //nolint:staticcheck
	for i := range nets {
		if n, ok := netNames[nets[i].Target]; ok {
			nets[i].Target = n
		}
		sort.Strings(nets[i].Aliases)
	}
	sort.SliceStable(nets, func(i, j int) bool { return nets[i].Target < nets[j].Target })
	tt.Networks = nets

	var tree map[string]any
	b, _ = json.Marshal(s)
	_ = json.Unmarshal(b, &tree)
	pruned, _ := pruneZero(tree).(map[string]any)
	if pruned == nil {
		pruned = map[string]any{}
	}
	return pruned
}

func normaliseUpdate(u *swarm.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		u = &swarm.UpdateConfig{Parallelism: 1}
	}
	if u.FailureAction == "" {
		u.FailureAction = swarm.UpdateFailureActionPause
	}
	if u.Order == "" {
		u.Order = swarm.UpdateOrderStopFirst
	}
	if u.Monitor == 0 {
		u.Monitor = 5 * time.Second
	}
	return u
}

// pruneZero drops nulls, false, 0, "" and empty maps/lists: the engine's
// API treats them like absent fields (omitempty), and it turns nil labels
// into {} and the like on read back.
func pruneZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if p := pruneZero(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pruneZero(e)
		}
		return out
	case bool:
		if !x {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	case string:
		if x == "" {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

// specDiff lists field-level differences between two normalised specs.
// Environment values are never shown (they often carry credentials).
func specDiff(cur, want map[string]any) []string {
	var out []string
	walkDiff("", cur, want, &out)
	sort.Strings(out)
	return out
}

func walkDiff(path string, a, b any, out *[]string) {
	if reflect.DeepEqual(a, b) {
		return
	}
	if strings.HasSuffix(path, "ContainerSpec.Env") {
		envDiff(path, a, b, out)
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]any{}
		for k := range am {
			keys[k] = nil
		}
		for k := range bm {
			keys[k] = nil
		}
		for _, k := range sortedKeys(keys) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkDiff(p, am[k], bm[k], out)
		}
		return
	}
	al, alok := a.([]any)
	bl, blok := b.([]any)
	if alok && blok && len(al) == len(bl) {
		for i := range al {
			walkDiff(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return
	}
	*out = append(*out, fmt.Sprintf("%s: %s -> %s", path, showJSON(a), showJSON(b)))
}

func showJSON(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func envDiff(path string, a, b any, out *[]string) {
	toMap := func(v any) map[string]string {
		m := map[string]string{}
		l, _ := v.([]any)
		for _, e := range l {
			s, _ := e.(string)
			k, val, _ := strings.Cut(s, "=")
			m[k] = val
		}
		return m
	}
	am, bm := toMap(a), toMap(b)
	n := len(*out)
	for _, k := range sortedKeys(am) {
		if v, ok := bm[k]; !ok {
			*out = append(*out, fmt.Sprintf("%s: - %s", path, k))
		} else if v != am[k] {
			*out = append(*out, fmt.Sprintf("%s: ~ %s (value changed)", path, k))
		}
	}
	for _, k := range sortedKeys(bm) {
		if _, ok := am[k]; !ok {
			*out = append(*out, fmt.Sprintf("%s: + %s", path, k))
		}
	}
	if len(*out) == n {
		*out = append(*out, path+": order changed")
	}
}

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
	for _, f := range plan.labelUpd {
		if err := f(ctx); err != nil {
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

// waitStack waits until every service of the stack has converged.
func waitStack(ctx context.Context, api client.APIClient, name string, timeout time.Duration) error {
	w := &taskWatch{seen: map[string]time.Time{}, stuckAfter: unschedulableAfter}
	return waitUntil(ctx, timeout, 2*time.Second, func() (bool, string, error) {
		svcs, err := api.ServiceList(ctx, swarm.ServiceListOptions{Filters: labelFilter(convert.LabelNamespace + "=" + name)})
		if err != nil {
			return false, "", err
		}
		if len(svcs) == 0 {
			return true, "", nil
		}
		args := filters.NewArgs()
		for _, s := range svcs {
			args.Add("service", s.ID)
		}
		tasks, err := api.TaskList(ctx, swarm.TaskListOptions{Filters: args})
		if err != nil {
			return false, "", err
		}
		var pending []string
		var failed []error
		for _, s := range svcs {
			ok, why, err := w.converged(s, tasks, time.Now())
			if err != nil {
				failed = append(failed, err)
			} else if !ok {
				pending = append(pending, why)
			}
		}
		if len(failed) > 0 {
			return false, "", errors.Join(failed...)
		}
		return len(pending) == 0, strings.Join(pending, "; "), nil
	})
}

// unschedulableAfter is how long a task may stay pending for want of a
// suitable node before the wait gives up: the scheduler retries, but a node
// that fits rarely appears by itself within a run.
var unschedulableAfter = 30 * time.Second

// taskWatch remembers when each task was first seen unschedulable, by the
// controller's clock (the engine's may differ).
type taskWatch struct {
	seen       map[string]time.Time
	stuckAfter time.Duration
}

// converged reports whether a service runs as its spec says. The reason it
// gives names the current blockers first (tasks that should run and do not,
// with the scheduler's word for why), then the latest failure. An error
// means its rollout failed, or a task cannot be scheduled.
func (w *taskWatch) converged(s swarm.Service, tasks []swarm.Task, now time.Time) (bool, string, error) {
	var running, desired int
	var blockers []string
	var lastFail *swarm.Task
	// Right after an update the old tasks still run and the engine may not
	// have set UpdateStatus yet: only tasks made from the current spec (the
	// orchestrator copies the service's task template into each task)
	// count as converged.
	current := normaliseSpec(swarm.ServiceSpec{TaskTemplate: s.Spec.TaskTemplate}, nil)
	for i, t := range tasks {
		if t.ServiceID != s.ID {
			continue
		}
		if t.DesiredState == swarm.TaskStateRunning {
			desired++
			if t.Status.State == swarm.TaskStateRunning && reflect.DeepEqual(normaliseSpec(swarm.ServiceSpec{TaskTemplate: t.Spec}, nil), current) {
				running++
			} else if t.Status.State != swarm.TaskStateRunning {
				blockers = append(blockers, taskState(s, t))
				if err := w.stuck(s, t, now); err != nil {
					return false, "", err
				}
			}
		}
		if (t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected) && t.Status.Err != "" &&
			(lastFail == nil || t.Status.Timestamp.After(lastFail.Status.Timestamp)) {
			lastFail = &tasks[i]
		}
	}
	if lastFail != nil {
		blockers = append(blockers, "last failure: "+taskState(s, *lastFail))
	}
	detail := ""
	if len(blockers) > 0 {
		detail = " (" + strings.Join(blockers, "; ") + ")"
	}
	if us := s.UpdateStatus; us != nil {
		switch us.State {
		case swarm.UpdateStatePaused, swarm.UpdateStateRollbackCompleted, swarm.UpdateStateRollbackPaused:
			return false, "", fmt.Errorf("service %s rollout %s: %s%s", s.Spec.Name, us.State, us.Message, detail)
		case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
			return false, fmt.Sprintf("%s: update %s%s", s.Spec.Name, us.State, detail), nil
		}
	}
	switch {
	case s.Spec.Mode.Replicated != nil:
		want := 1
		if s.Spec.Mode.Replicated.Replicas != nil {
			want = int(*s.Spec.Mode.Replicated.Replicas)
		}
		if running != want || desired != want {
			return false, fmt.Sprintf("%s: %d/%d running%s", s.Spec.Name, running, want, detail), nil
		}
	case s.Spec.Mode.Global != nil:
		if desired == 0 || running != desired {
			return false, fmt.Sprintf("%s: %d/%d running%s", s.Spec.Name, running, desired, detail), nil
		}
	}
	return true, "", nil
}

// taskState is "task web_web.2 pending: no suitable node (...)".
func taskState(s swarm.Service, t swarm.Task) string {
	why := string(t.Status.State)
	switch {
	case t.Status.Err != "":
		why += ": " + t.Status.Err
	case t.Status.Message != "" && t.Status.Message != string(t.Status.State):
		why += " (" + t.Status.Message + ")"
	}
	return fmt.Sprintf("task %s.%d %s", s.Spec.Name, t.Slot, why)
}

// stuck fails a task that has been pending without a suitable node for
// longer than stuckAfter.
func (w *taskWatch) stuck(s swarm.Service, t swarm.Task, now time.Time) error {
	if t.Status.State != swarm.TaskStatePending || !strings.Contains(t.Status.Err, "no suitable node") {
		delete(w.seen, t.ID)
		return nil
	}
	first, ok := w.seen[t.ID]
	if !ok {
		w.seen[t.ID] = now
		return nil
	}
	if now.Sub(first) < w.stuckAfter {
		return nil
	}
	return fmt.Errorf("service %s cannot be scheduled: %s, for %s; no node fits the service's placement (constraints, max_replicas_per_node, resources): lower its replicas or add nodes",
		s.Spec.Name, taskState(s, t), now.Sub(first).Round(time.Second))
}
