package modules

// node(state = "absent"): remove a node that has left (or died) from the
// swarm's node list, as `docker node rm` does.

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func removeNode(ctx context.Context, t *Target, p Params, api client.APIClient, plan *Plan) (*Result, error) {
	ref := p.String("node")
	plan.Unchanged = "node " + ref + " is not in the swarm"
	n, err := findNode(ctx, api, ref)
	if errdefs.IsNotFound(err) {
		return plan.Apply(ctx, t, nil)
	}
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	name := n.Description.Hostname
	if n.ManagerStatus != nil {
		return nil, plan.Errorf("%s is a manager: demote it first (role = \"worker\")", name)
	}
	plan.Add("remove node "+name, "- node "+name+" ("+n.ID+")\n", func(ctx context.Context) error {
		return removeDownNode(ctx, api, n.ID, name)
	})
	return plan.Apply(ctx, t, nil)
}

// removeDownNode removes a node once it is down: a node that just left is
// marked down after a few heartbeats.
func removeDownNode(ctx context.Context, api client.APIClient, id, name string) error {
	err := waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
		cur, _, err := api.NodeInspectWithRaw(ctx, id)
		if err != nil {
			return false, "", err
		}
		return cur.Status.State == swarm.NodeStateDown, fmt.Sprintf("node %s is still %s: make it leave the swarm first (swarm_leave)", name, cur.Status.State), nil
	})
	if err != nil {
		return err
	}
	return api.NodeRemove(ctx, id, swarm.NodeRemoveOptions{})
}
