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

func removeNode(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	ref := p.String("node")
	n, err := findNode(ctx, api, ref)
	if errdefs.IsNotFound(err) {
		return &Result{Msg: "node " + ref + " is not in the swarm"}, nil
	}
	if err != nil {
		return nil, err
	}
	name := n.Description.Hostname
	if n.ManagerStatus != nil {
		return nil, fmt.Errorf("node %s is a manager: demote it first (role = \"worker\")", name)
	}
	res := &Result{Changed: true, Msg: "node " + name + " removed from the swarm"}
	if t.Diff {
		res.Diff = "- node " + name + " (" + n.ID + ")\n"
	}
	if t.Check {
		return res, nil
	}
	// A node that just left is marked down after a few heartbeats.
	err = waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
		cur, _, err := api.NodeInspectWithRaw(ctx, n.ID)
		if err != nil {
			return false, "", err
		}
		return cur.Status.State == swarm.NodeStateDown, fmt.Sprintf("node %s is still %s: make it leave the swarm first (swarm_leave)", name, cur.Status.State), nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove node %s: %w", name, err)
	}
	if err := api.NodeRemove(ctx, n.ID, swarm.NodeRemoveOptions{}); err != nil {
		return nil, fmt.Errorf("remove node %s: %w", name, err)
	}
	return res, nil
}
