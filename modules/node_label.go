package modules

import (
	"context"
	"fmt"
	"strings"

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
		Run: withDocker(runNodeLabel),
	})
}

func runNodeLabel(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	api, _, err := managerAPI(ctx, t, api)
	if err != nil {
		return nil, err
	}
	node, err := findJoinedNode(ctx, t, api, p.String("node"))
	if err != nil {
		if t.Check && errdefs.IsNotFound(err) {
			// An earlier step may join it; a new node has no labels.
			if p.String("state") == "absent" || len(p.Dict("labels")) == 0 {
				return &Result{Msg: fmt.Sprintf("node %s is not in the swarm yet (an earlier step may join it, unlabelled)", p.String("node"))}, nil
			}
			var ch changes
			labelChanges(&ch, "", nil, stringMap(p.Dict("labels")), false)
			res := &Result{Changed: true, Msg: fmt.Sprintf("would label node %s once it has joined: %s", p.String("node"), strings.Join(ch, ", "))}
			if t.Diff {
				res.Diff = "node " + p.String("node") + " labels:\n" + ch.String()
			}
			return res, nil
		}
		return nil, err
	}
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
	cur := node.Spec.Labels
	var ch changes
	var next map[string]string
	if p.String("state") == "absent" {
		next = map[string]string{}
		for k, v := range cur {
			next[k] = v
		}
		for _, k := range sortedKeys(want) {
			if v, ok := cur[k]; ok {
				ch.note("- %s=%s", k, v)
				delete(next, k)
			}
		}
	} else {
		next = labelChanges(&ch, "", cur, want, p.Bool("exclusive"))
	}
	res := &Result{Outputs: map[string]any{"node_id": node.ID, "labels": toAnyMap(next)}}
	name := node.Description.Hostname
	if len(ch) == 0 {
		res.Msg = "labels of " + name + " already as wanted"
		res.Outputs["labels"] = toAnyMap(cur)
		return res, nil
	}
	res.Changed = true
	res.Msg = "labels of " + name + ": " + strings.Join(ch, ", ")
	if t.Diff {
		res.Diff = "node " + name + " labels:\n" + ch.String()
	}
	if t.Check {
		return res, nil
	}
	if err := updateNode(ctx, api, node, func(s *swarm.NodeSpec) { s.Labels = next }); err != nil {
		return nil, fmt.Errorf("node update %s: %w", name, err)
	}
	return res, nil
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
