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
		Run:              fileObjectRunner(func(api client.APIClient) objectKind { return secretKind{api} }),
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
	return objectsOf(l, err, func(s swarm.Secret) swarmObject {
		return swarmObject{ID: s.ID, Name: s.Spec.Name, Version: s.Version, Labels: s.Spec.Labels}
	})
}

// objectsOf converts an engine list of secrets or configs (and its error).
func objectsOf[T any](l []T, err error, conv func(T) swarmObject) ([]swarmObject, error) {
	if err != nil {
		return nil, err
	}
	out := make([]swarmObject, 0, len(l))
	for _, x := range l {
		out = append(out, conv(x))
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
	return objectUsers(ctx, k.api, o, func(c *swarm.ContainerSpec) []*swarm.SecretReference { return c.Secrets },
		func(r *swarm.SecretReference) (string, string) { return r.SecretID, r.SecretName })
}

// objectUsers names the services whose containers reference o, by ID or
// name, among the references refs picks from a container spec (its
// secrets or its configs).
func objectUsers[R any](ctx context.Context, api client.APIClient, o swarmObject, refs func(*swarm.ContainerSpec) []R, key func(R) (id, name string)) ([]string, error) {
	return servicesUsing(ctx, api, func(s swarm.ServiceSpec) bool {
		if s.TaskTemplate.ContainerSpec == nil {
			return false
		}
		for _, r := range refs(s.TaskTemplate.ContainerSpec) {
			if id, name := key(r); id == o.ID || name == o.Name {
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

// fileObjectRunner is the Run of the secret or config module: it plans
// against a manager (kind builds the API of the module's objects on it).
func fileObjectRunner(kind func(client.APIClient) objectKind) func(context.Context, *Target, Params) (*Result, error) {
	return withManager(kind(nil).kind(), func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
		return runFileObject(ctx, t, p, kind(api))
	})
}

// fileObjectRun is one run of the secret or config module on a host: it
// observes the engine's objects of its kind and fills plan.
type fileObjectRun struct {
	k    objectKind
	kind string
	name string
	all  []swarmObject // the engine's objects of this kind
	res  *Result
	plan *Plan
}

func runFileObject(ctx context.Context, t *Target, p Params, k objectKind) (*Result, error) {
	kind, name := k.kind(), p.String("name")
	plan := NewPlan(kind, "")
	all, err := k.list(ctx)
	if err != nil {
		return nil, plan.Errorf("listing %ss: %w", kind, err)
	}
	r := &fileObjectRun{k: k, kind: kind, name: name, all: all, plan: plan,
		res: &Result{Outputs: map[string]any{"name": name}}}
	if p.String("state") == "absent" {
		plan.Unchanged = kind + " " + name + " already absent"
		err = r.absent(ctx, p.Bool("rotate"))
	} else {
		err = r.present(ctx, t, p)
		// With rotate: the current version's name.
		plan.Unchanged = fmt.Sprintf("%s %v already as wanted", kind, r.res.Outputs["name"])
	}
	if err != nil {
		return nil, err
	}
	return plan.Apply(ctx, t, r.res)
}

// present plans the object with the wanted value and labels.
func (r *fileObjectRun) present(ctx context.Context, t *Target, p Params) error {
	data, err := fileObjectData(t, p)
	if err != nil {
		return r.plan.Errorf("%w", err)
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

// absent plans removing the object (with rotate: all its versions),
// refused if a service uses any of them.
func (r *fileObjectRun) absent(ctx context.Context, rotate bool) error {
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
		what := "remove " + r.kind + " " + o.Name
		users, err := r.k.usedBy(ctx, o)
		if err != nil {
			return r.plan.Errorf("%s: %w", what, err)
		}
		if len(users) > 0 {
			return r.plan.Errorf("%s: used by services %s; remove it from the services first", what, strings.Join(users, ", "))
		}
		r.plan.Add(what, "- "+r.kind+" "+o.Name, func(ctx context.Context) error { return r.k.remove(ctx, o.ID) })
	}
	return nil
}

// replace plans creating the object, updating its labels, or replacing it
// when its value changed and no service uses it.
func (r *fileObjectRun) replace(ctx context.Context, data []byte, hash string, labels map[string]string) error {
	kind, name, k := r.kind, r.name, r.k
	var cur *swarmObject
	for i := range r.all {
		if r.all[i].Name == name {
			cur = &r.all[i]
		}
	}
	if cur == nil {
		r.plan.Add("create "+kind+" "+name, "+ "+kind+" "+name, func(ctx context.Context) error { return r.create(ctx, name, data, labels) })
		return nil
	}
	r.res.Outputs["id"] = cur.ID
	if objectHash(k, *cur) == hash {
		r.relabel(*cur, labels)
		return nil
	}
	what := "replace " + kind + " " + name + " (value changed)"
	users, err := k.usedBy(ctx, *cur)
	if err != nil {
		return r.plan.Errorf("%s: %w", what, err)
	}
	if len(users) > 0 {
		return r.plan.Errorf("%s: used by services %s, and %ss cannot change in place; set rotate = True to create a new version", what, strings.Join(users, ", "), kind)
	}
	diff := fmt.Sprintf("~ %s %s: value changed (replaced: %ss are immutable)\n", kind, name, kind)
	if k.dataReadable() && cur.Data != nil {
		diff += FileDiff(kind+" "+name, string(cur.Data), string(data))
	}
	r.plan.Add(what, diff, func(ctx context.Context) error {
		if err := k.remove(ctx, cur.ID); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		return r.create(ctx, name, data, labels)
	})
	return nil
}

// create creates the object and outputs its ID.
func (r *fileObjectRun) create(ctx context.Context, name string, data []byte, labels map[string]string) error {
	id, err := r.k.create(ctx, name, data, labels)
	r.res.Outputs["id"] = id
	return err
}

// relabel plans setting o's labels to want, if they differ.
func (r *fileObjectRun) relabel(o swarmObject, want map[string]string) {
	var ch changes
	labelChanges(&ch, r.kind+" "+o.Name+" label ", o.Labels, want, true)
	if len(ch) == 0 {
		return
	}
	r.plan.Add("update labels of "+r.kind+" "+o.Name, ch.String(), func(ctx context.Context) error { return r.k.setLabels(ctx, o, want) })
}

// rotate keeps the version whose value is wanted (relabelled if need be)
// or creates the next one, and prunes old versions beyond keep.
func (r *fileObjectRun) rotate(ctx context.Context, data []byte, hash string, labels map[string]string, keep int) error {
	versions := objectVersions(r.all, r.name)
	var current *swarmObject
	for i := range versions {
		if objectHash(r.k, versions[i]) == hash {
			current = &versions[i]
		}
	}
	if current != nil {
		r.relabelVersion(*current, labels)
	} else {
		versions = append(versions, r.nextVersion(versions, data, labels))
	}
	return r.pruneVersions(ctx, versions, current, keep)
}

// relabelVersion outputs the existing version with the wanted value and
// plans the label update it needs, if any.
func (r *fileObjectRun) relabelVersion(current swarmObject, labels map[string]string) {
	n := objectVersion(current, r.name)
	r.res.Outputs["name"], r.res.Outputs["id"], r.res.Outputs["version"] = current.Name, current.ID, int64(n)
	want := maps.Clone(labels)
	if current.Labels[baseLabel] != "" || current.Name != r.name {
		want[baseLabel] = r.name
		want[versionLabel] = strconv.Itoa(n)
	}
	r.relabel(current, want)
}

// nextVersion plans the version after the newest one and returns it.
func (r *fileObjectRun) nextVersion(versions []swarmObject, data []byte, labels map[string]string) swarmObject {
	n := 1
	if len(versions) > 0 {
		n = objectVersion(versions[len(versions)-1], r.name) + 1
	}
	newName := versionName(r.name, n)
	r.res.Outputs["name"], r.res.Outputs["version"] = newName, int64(n)
	want := maps.Clone(labels)
	want[baseLabel] = r.name
	want[versionLabel] = strconv.Itoa(n)
	what, diff := "create "+r.kind+" "+newName, "+ "+r.kind+" "+newName
	if len(versions) > 0 {
		what = "rotate " + r.kind + " " + r.name + " to " + newName
		diff = fmt.Sprintf("+ %s %s (new version %d: value changed)", r.kind, newName, n)
	}
	r.plan.Add(what, diff, func(ctx context.Context) error { return r.create(ctx, newName, data, want) })
	return swarmObject{Name: newName, Labels: want}
}

// pruneVersions plans removing the versions beyond the newest keep, except
// the current one and those a service still uses.
func (r *fileObjectRun) pruneVersions(ctx context.Context, versions []swarmObject, current *swarmObject, keep int) error {
	if keep < 1 {
		keep = 1
	}
	for i, o := range versions {
		if i >= len(versions)-keep || o.ID == "" || (current != nil && o.ID == current.ID) {
			continue
		}
		what := "remove " + r.kind + " " + o.Name + " (old version)"
		users, err := r.k.usedBy(ctx, o)
		if err != nil {
			return r.plan.Errorf("%s: %w", what, err)
		}
		if len(users) == 0 {
			r.plan.Add(what, "- "+r.kind+" "+o.Name+" (old version)", func(ctx context.Context) error { return r.k.remove(ctx, o.ID) })
		}
	}
	return nil
}
