package modules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "secret",
		Doc: `Create, rotate or remove a swarm secret (run it on a manager).

The value comes from data (e.g. env("DB_PASSWORD")) or src, a file beside
the playbook read on the controller. Secrets are immutable and the engine
never returns their data, so the step stores a sha256 of the value in the
label ` + hashLabel + ` and compares that: a second run with the same value
changes nothing. A changed value with rotate = False replaces the secret if
no service uses it and fails (naming the services) if some do. With
rotate = True a changed value becomes a new secret NAME_v2, NAME_v3, ... and
the output name is the one to reference (e.g. as an external secret of a
stack); the newest keep versions are kept and older ones removed unless a
service still uses them. Values are never printed.

    pw = secret(leader, name = "postgres_password", data = env("PG_PW"), rotate = True)
    stack(leader, name = "db", compose = "db.yml", env = {"PG_SECRET": pw.name})`,
		Params:           fileObjectParams("secret", true),
		Outputs:          fileObjectOutputs("secret"),
		SensitiveOutputs: nil,
		Run: withDocker(func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
			api, _, err := managerAPI(ctx, t, api)
			if err != nil {
				return nil, err
			}
			return runFileObject(ctx, t, p, secretKind{api})
		}),
	})
}

// Labels that tie rotated versions together.
const (
	baseLabel    = "com.swarmrun.base"
	versionLabel = "com.swarmrun.version"
)

func fileObjectParams(kind string, sensitive bool) []Param {
	return []Param{
		{Name: "name", Type: String, Required: true, Doc: kind + " name (with rotate: the base name of its versions)"},
		{Name: "data", Type: String, Sensitive: sensitive, Doc: "the " + kind + "'s value (give data or src)"},
		{Name: "src", Type: String, Doc: "file on the controller holding the value, relative to the playbook's directory (give data or src)"},
		{Name: "labels", Type: Dict, Doc: "labels of the " + kind + " (updated in place when they differ)"},
		{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "whether the " + kind + " (with rotate: all its versions) should exist"},
		{Name: "rotate", Type: Bool, Default: false, Doc: "a changed value becomes a new version NAME_vN instead of replacing the " + kind},
		{Name: "keep", Type: Int, Default: int64(3), Doc: "with rotate: how many newest versions to keep (versions in use are never removed)"},
	}
}

func fileObjectOutputs(kind string) map[string]string {
	return map[string]string{
		"name":    "the actual " + kind + " name to reference (with rotate: the current version's)",
		"id":      "the " + kind + "'s ID (absent in check mode before creation)",
		"version": "with rotate: the current version number",
	}
}

// swarmObject is a secret or config as the module sees it.
type swarmObject struct {
	ID      string
	Name    string
	Version swarm.Version
	Labels  map[string]string
	Data    []byte // configs only; secrets' data is never returned
}

// objectKind abstracts the secret and config APIs, which are alike.
type objectKind interface {
	kind() string
	dataReadable() bool
	list(ctx context.Context) ([]swarmObject, error)
	create(ctx context.Context, name string, data []byte, labels map[string]string) (string, error)
	setLabels(ctx context.Context, o swarmObject, labels map[string]string) error
	remove(ctx context.Context, id string) error
	usedBy(ctx context.Context, o swarmObject) ([]string, error)
}

type secretKind struct{ api client.APIClient }

func (k secretKind) kind() string       { return "secret" }
func (k secretKind) dataReadable() bool { return false }
func (k secretKind) list(ctx context.Context) ([]swarmObject, error) {
	l, err := k.api.SecretList(ctx, swarm.SecretListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]swarmObject, 0, len(l))
	for _, s := range l {
		out = append(out, swarmObject{ID: s.ID, Name: s.Spec.Name, Version: s.Version, Labels: s.Spec.Labels})
	}
	return out, nil
}
func (k secretKind) create(ctx context.Context, name string, data []byte, labels map[string]string) (string, error) {
	r, err := k.api.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
	return r.ID, err
}
func (k secretKind) setLabels(ctx context.Context, o swarmObject, labels map[string]string) error {
	// Data left nil: the engine only accepts label changes and treats a nil
	// value as "unchanged".
	return k.api.SecretUpdate(ctx, o.ID, o.Version, swarm.SecretSpec{Annotations: swarm.Annotations{Name: o.Name, Labels: labels}})
}
func (k secretKind) remove(ctx context.Context, id string) error { return k.api.SecretRemove(ctx, id) }
func (k secretKind) usedBy(ctx context.Context, o swarmObject) ([]string, error) {
	return servicesUsing(ctx, k.api, func(s swarm.ServiceSpec) bool {
		if s.TaskTemplate.ContainerSpec == nil {
			return false
		}
		for _, r := range s.TaskTemplate.ContainerSpec.Secrets {
			if r.SecretID == o.ID || r.SecretName == o.Name {
				return true
			}
		}
		return false
	})
}

// objectHash is the stored value's hash, "" when unknown.
func objectHash(k objectKind, o swarmObject) string {
	if h := o.Labels[hashLabel]; h != "" {
		return h
	}
	if k.dataReadable() && o.Data != nil {
		return sha256Hex(o.Data)
	}
	return ""
}

// versionName names version n of a rotated object; version 1 is the base name.
func versionName(base string, n int) string {
	if n <= 1 {
		return base
	}
	return fmt.Sprintf("%s_v%d", base, n)
}

// objectVersions returns the versions of base, oldest first: objects
// labelled with base, and the base name itself as version 1.
func objectVersions(all []swarmObject, base string) []swarmObject {
	var vs []swarmObject
	for _, o := range all {
		if o.Labels[baseLabel] == base || o.Name == base {
			vs = append(vs, o)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return objectVersion(vs[i], base) < objectVersion(vs[j], base) })
	return vs
}

func objectVersion(o swarmObject, base string) int {
	if n, err := strconv.Atoi(o.Labels[versionLabel]); err == nil {
		return n
	}
	if o.Name == base {
		return 1
	}
	if i := strings.LastIndex(o.Name, "_v"); i >= 0 {
		if n, err := strconv.Atoi(o.Name[i+2:]); err == nil {
			return n
		}
	}
	return 0
}

// fileObjectRun is one run of the secret or config module on a host.
type fileObjectRun struct {
	t    *Target
	k    objectKind
	kind string
	name string
	all  []swarmObject // the engine's objects of this kind
	res  *Result
	ch   changes
}

func runFileObject(ctx context.Context, t *Target, p Params, k objectKind) (*Result, error) {
	all, err := k.list(ctx)
	if err != nil {
		return nil, err
	}
	r := &fileObjectRun{t: t, k: k, kind: k.kind(), name: p.String("name"), all: all,
		res: &Result{Outputs: map[string]any{"name": p.String("name")}}}
	if p.String("state") == "absent" {
		return r.absent(ctx, p.Bool("rotate"))
	}
	data, err := fileObjectData(t, p)
	if err != nil {
		return nil, err
	}
	hash := sha256Hex(data)
	labels := stringMap(p.Dict("labels"))
	if labels == nil {
		labels = map[string]string{}
	}
	labels[hashLabel] = hash
	if !p.Bool("rotate") {
		return r.replace(ctx, data, hash, labels)
	}
	return r.rotate(ctx, data, hash, labels, int(p.Int("keep")))
}

// fileObjectData is the value from data or src.
func fileObjectData(t *Target, p Params) ([]byte, error) {
	switch {
	case p.Has("data") && p.Has("src"):
		return nil, errors.New("give data or src, not both")
	case p.Has("data"):
		return []byte(p.String("data")), nil
	case p.Has("src"):
		data, err := readSrc(t, p.String("src"))
		if err != nil {
			return nil, fmt.Errorf("src: %w", err)
		}
		return data, nil
	default:
		return nil, errors.New("give the value as data or src")
	}
}

// absent removes the object (with rotate: all its versions) unless a
// service uses it.
func (r *fileObjectRun) absent(ctx context.Context, rotate bool) (*Result, error) {
	var gone []swarmObject
	if rotate {
		gone = objectVersions(r.all, r.name)
	} else {
		for _, o := range r.all {
			if o.Name == r.name {
				gone = append(gone, o)
			}
		}
	}
	for _, o := range gone {
		users, err := r.k.usedBy(ctx, o)
		if err != nil {
			return nil, err
		}
		if len(users) > 0 {
			return nil, fmt.Errorf("%s %s is used by services %s; remove them from the services first", r.kind, o.Name, strings.Join(users, ", "))
		}
		r.ch.note("- %s %s", r.kind, o.Name)
	}
	return r.apply(ctx, func() error {
		for _, o := range gone {
			if err := r.k.remove(ctx, o.ID); err != nil {
				return fmt.Errorf("remove %s %s: %w", r.kind, o.Name, err)
			}
		}
		return nil
	})
}

// replace creates the object, updates its labels, or replaces it when its
// value changed and no service uses it.
func (r *fileObjectRun) replace(ctx context.Context, data []byte, hash string, labels map[string]string) (*Result, error) {
	kind, name, k := r.kind, r.name, r.k
	var cur *swarmObject
	for i := range r.all {
		if r.all[i].Name == name {
			cur = &r.all[i]
		}
	}
	if cur == nil {
		r.ch.note("+ %s %s", kind, name)
		return r.apply(ctx, func() error { return r.create(ctx, name, data, labels) })
	}
	r.res.Outputs["id"] = cur.ID
	if objectHash(k, *cur) == hash {
		labelChanges(&r.ch, kind+" "+name+" label ", cur.Labels, labels, true)
		return r.apply(ctx, func() error { return k.setLabels(ctx, *cur, labels) })
	}
	users, err := k.usedBy(ctx, *cur)
	if err != nil {
		return nil, err
	}
	r.ch.note("~ %s %s: value changed (replaced: %ss are immutable)", kind, name, kind)
	if len(users) > 0 {
		r.res.Diff = r.ch.String()
		return r.res, fmt.Errorf("%s %s has a different value but is used by services %s, and %ss cannot change in place; set rotate = True to create a new version", kind, name, strings.Join(users, ", "), kind)
	}
	if k.dataReadable() && r.t.Diff && cur.Data != nil {
		r.ch.note("%s", strings.TrimRight(FileDiff(kind+" "+name, string(cur.Data), string(data)), "\n"))
	}
	return r.apply(ctx, func() error {
		if err := k.remove(ctx, cur.ID); err != nil {
			return fmt.Errorf("remove %s %s: %w", kind, name, err)
		}
		return r.create(ctx, name, data, labels)
	})
}

// create creates the object and outputs its ID.
func (r *fileObjectRun) create(ctx context.Context, name string, data []byte, labels map[string]string) error {
	id, err := r.k.create(ctx, name, data, labels)
	r.res.Outputs["id"] = id
	return err
}

// rotate keeps the version whose value is wanted (relabelled if need be)
// or creates the next one, and prunes old versions beyond keep.
func (r *fileObjectRun) rotate(ctx context.Context, data []byte, hash string, labels map[string]string, keep int) (*Result, error) {
	versions := objectVersions(r.all, r.name)
	var current *swarmObject
	for i := range versions {
		if objectHash(r.k, versions[i]) == hash {
			current = &versions[i]
		}
	}
	var step func() error
	if current != nil {
		step = r.relabelVersion(ctx, *current, labels)
	} else {
		var next swarmObject
		next, step = r.nextVersion(ctx, versions, data, labels)
		versions = append(versions, next)
	}
	prune, err := r.oldVersions(ctx, versions, current, keep)
	if err != nil {
		return nil, err
	}
	return r.apply(ctx, func() error {
		if step != nil {
			if err := step(); err != nil {
				return err
			}
		}
		for _, o := range prune {
			if err := r.k.remove(ctx, o.ID); err != nil {
				return fmt.Errorf("remove old %s %s: %w", r.kind, o.Name, err)
			}
		}
		return nil
	})
}

// relabelVersion outputs the existing version with the wanted value and
// returns the label update it needs, nil when none.
func (r *fileObjectRun) relabelVersion(ctx context.Context, current swarmObject, labels map[string]string) func() error {
	n := objectVersion(current, r.name)
	r.res.Outputs["name"], r.res.Outputs["id"], r.res.Outputs["version"] = current.Name, current.ID, int64(n)
	want := maps.Clone(labels)
	if current.Labels[baseLabel] != "" || current.Name != r.name {
		want[baseLabel] = r.name
		want[versionLabel] = strconv.Itoa(n)
	}
	before := len(r.ch)
	labelChanges(&r.ch, r.kind+" "+current.Name+" label ", current.Labels, want, true)
	if len(r.ch) == before {
		return nil
	}
	return func() error { return r.k.setLabels(ctx, current, want) }
}

// nextVersion plans the version after the newest one and returns it with
// the step that creates it.
func (r *fileObjectRun) nextVersion(ctx context.Context, versions []swarmObject, data []byte, labels map[string]string) (swarmObject, func() error) {
	n := 1
	if len(versions) > 0 {
		n = objectVersion(versions[len(versions)-1], r.name) + 1
	}
	newName := versionName(r.name, n)
	r.res.Outputs["name"], r.res.Outputs["version"] = newName, int64(n)
	want := maps.Clone(labels)
	want[baseLabel] = r.name
	want[versionLabel] = strconv.Itoa(n)
	if len(versions) > 0 {
		r.ch.note("+ %s %s (new version %d: value changed)", r.kind, newName, n)
	} else {
		r.ch.note("+ %s %s", r.kind, newName)
	}
	return swarmObject{Name: newName, Labels: want}, func() error { return r.create(ctx, newName, data, want) }
}

// oldVersions are the versions to prune: all but the newest keep and the
// current one, never one a service still uses.
func (r *fileObjectRun) oldVersions(ctx context.Context, versions []swarmObject, current *swarmObject, keep int) ([]swarmObject, error) {
	if keep < 1 {
		keep = 1
	}
	var prune []swarmObject
	for i, o := range versions {
		if i >= len(versions)-keep || o.ID == "" || (current != nil && o.ID == current.ID) {
			continue
		}
		users, err := r.k.usedBy(ctx, o)
		if err != nil {
			return nil, err
		}
		if len(users) == 0 {
			prune = append(prune, o)
			r.ch.note("- %s %s (old version)", r.kind, o.Name)
		}
	}
	return prune, nil
}

// apply reports the run's changes and, outside check mode, applies them.
func (r *fileObjectRun) apply(ctx context.Context, apply func() error) (*Result, error) {
	return applyObjectChanges(ctx, r.t, r.k, r.res, r.ch, apply)
}

// applyObjectChanges reports ch and, outside check mode, applies them.
func applyObjectChanges(ctx context.Context, t *Target, k objectKind, res *Result, ch changes, apply func() error) (*Result, error) {
	if len(ch) == 0 {
		res.Msg = fmt.Sprintf("%s %v as wanted", k.kind(), res.Outputs["name"])
		return res, nil
	}
	res.Changed = true
	res.Msg = strings.Join(ch, "; ")
	if i := strings.Index(res.Msg, "\n"); i >= 0 {
		res.Msg = res.Msg[:i]
	}
	if t.Diff {
		res.Diff = ch.String()
	}
	if t.Check {
		res.Msg = "would: " + res.Msg
		return res, nil
	}
	if err := apply(); err != nil {
		return nil, err
	}
	return res, nil
}
