package modules

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "node_label",
		Doc: `Set or remove labels on a swarm node (run it on a manager).

state = "present" sets the given labels, leaving others alone unless
exclusive = True, which removes every label not given. state = "absent"
removes the given label keys (a dict's values are ignored, a list of keys
works too). Placement constraints such as node.labels.role == logging use
these labels.

    node_label(hosts("managers")[0], node = "worker-1", labels = {"role": "logging"})`,
		Params: []Param{
			{Name: "node", Type: String, Required: true, Doc: "node hostname, name or ID"},
			{Name: "labels", Type: Any, Required: true, Doc: "dict of labels (present), or dict/list of keys (absent)"},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "whether the labels should be present or absent"},
			{Name: "exclusive", Type: Bool, Default: false, Doc: "with present: remove labels not listed"},
		},
		Outputs: map[string]string{
			"node_id": "the node's ID",
			"labels":  "the node's labels after the step",
		},
		Run: withManager("node_label", runNodeLabel),
	})
}

func runNodeLabel(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("node_label", "")
	want, err := nodeLabelsWanted(p)
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	ref := p.String("node")
	node, err := findJoinedNode(ctx, t, api, ref)
	if err != nil {
		if t.Check && errdefs.IsNotFound(err) {
			// An earlier step may join it; a new node has no labels.
			plan.Unchanged = fmt.Sprintf("node %s is not in the swarm yet (an earlier step may join it, unlabelled)", ref)
			if p.String("state") != "absent" {
				labelPlan(plan, ref, nil, want, nil)
			}
			if !plan.Empty() {
				plan.Note(notJoinedNote(ref))
			}
			return plan.Apply(ctx, t, nil)
		}
		return nil, plan.Errorf("%w", err)
	}
	cur := node.Spec.Labels
	next := nextLabels(cur, want, p.String("state") == "absent", p.Bool("exclusive"))
	name := node.Description.Hostname
	plan.Unchanged = "labels of " + name + " already as wanted"
	labelPlan(plan, name, cur, next, func(ctx context.Context) error {
		return updateNode(ctx, api, node, func(s *swarm.NodeSpec) { s.Labels = next })
	})
	return plan.Apply(ctx, t, &Result{Outputs: map[string]any{"node_id": node.ID, "labels": toAnyMap(next)}})
}

// nodeLabelsWanted is the labels parameter as a map: a dict, or a list of
// keys for state = "absent".
func nodeLabelsWanted(p Params) (map[string]string, error) {
	want := map[string]string{}
	switch x := p["labels"].(type) {
	case map[string]any:
		want = stringMap(x)
	case []any:
		if p.String("state") != "absent" {
			return nil, fmt.Errorf("labels: a list of keys only works with state = \"absent\"; give a dict")
		}
		for _, k := range x {
			want[fmt.Sprint(k)] = ""
		}
	case nil:
	default:
		return nil, fmt.Errorf("labels: want a dict, got %T", x)
	}
	return want, nil
}

// nextLabels is the node's label set after the step: want's keys removed
// (absent) or set, and with exclusive every other key removed.
func nextLabels(cur, want map[string]string, absent, exclusive bool) map[string]string {
	next := map[string]string{}
	keepOthers := absent || !exclusive
	for k, v := range cur {
		if _, given := want[k]; !given && keepOthers {
			next[k] = v
		}
	}
	if !absent {
		for k, v := range want {
			next[k] = v
		}
	}
	return next
}

// labelPlan adds a change for each label that goes from cur to next on the
// node name. One node update sets them all: it is the first change's Do.
func labelPlan(plan *Plan, name string, cur, next map[string]string, update func(ctx context.Context) error) {
	add := func(what, diff string) {
		plan.Add(what, name+" labels: "+diff+"\n", update)
		update = nil
	}
	for _, k := range sortedKeys(next) {
		if old, ok := cur[k]; !ok {
			add("add label "+k+"="+next[k]+" to "+name, "+ "+k+"="+next[k])
		} else if old != next[k] {
			add("set label "+k+"="+next[k]+" on "+name, "~ "+k+": "+old+" -> "+next[k])
		}
	}
	for _, k := range sortedKeys(cur) {
		if _, ok := next[k]; !ok {
			add("remove label "+k+" from "+name, "- "+k+"="+cur[k])
		}
	}
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
