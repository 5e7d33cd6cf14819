package modules

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "node_prune",
		Doc: `Remove the node objects a host left behind when it joined again (run it on a manager).

A host whose swarm state was wiped (or that left and joined again) comes back
as a new node with a new ID; its old node stays in the list, down or unknown,
forever. For each hostname that has a Ready node, every other node of that
hostname (not Ready) is removed. Nodes of hostnames with no Ready node are
left alone (the host may still come back). restore.star uses it after the
hosts joined the restored cluster.

    node_prune(hosts("managers")[0])`,
		Params: []Param{
			{Name: "settle", Type: Int, Default: int64(60), Doc: "seconds to wait for a hostname's newest node to be Ready when it has none yet"},
		},
		Outputs: map[string]string{"removed": "the IDs of the removed nodes"},
		Run:     withManager("node_prune", runNodePrune),
	})
}

func runNodePrune(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("node_prune", "no stale nodes")
	var stale []swarm.Node
	settle := time.Duration(p.Int("settle")) * time.Second
	// A hostname whose nodes are all not Ready may be a join still
	// settling: wait a little, then leave it alone (not an error).
	var listErr error
	_ = waitUntil(ctx, min(settle, waitBudget(ctx, settle)), time.Second, func() (bool, string, error) {
		nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
		if listErr = err; err != nil {
			return false, "", err
		}
		var waiting []string
		stale, waiting = staleNodes(nodes)
		return len(waiting) == 0 || t.Check, "", nil
	})
	if listErr != nil {
		return nil, plan.Errorf("%w", listErr)
	}
	ids := []any{}
	for _, n := range stale {
		ids = append(ids, n.ID)
		what := fmt.Sprintf("%s (%s, %s)", n.Description.Hostname, n.ID, n.Status.State)
		plan.Add("remove stale node "+what, "- node "+what+"\n", func(ctx context.Context) error {
			// Not Ready yet possibly not marked down: force (its host is a
			// Ready node under another ID, so this one never comes back).
			return api.NodeRemove(ctx, n.ID, swarm.NodeRemoveOptions{Force: true})
		})
	}
	return plan.Apply(ctx, t, &Result{Outputs: map[string]any{"removed": ids}})
}

// staleNodes returns the nodes that are not Ready while another node of the
// same hostname is, and the hostnames whose newest node is not Ready yet
// while an older one is not Ready either (a join still settling).
func staleNodes(nodes []swarm.Node) (stale []swarm.Node, waiting []string) {
	byHost := map[string][]swarm.Node{}
	for _, n := range nodes {
		byHost[n.Description.Hostname] = append(byHost[n.Description.Hostname], n)
	}
	for host, ns := range byHost {
		if len(ns) < 2 {
			continue
		}
		ready := false
		for _, n := range ns {
			ready = ready || n.Status.State == swarm.NodeStateReady
		}
		if !ready {
			waiting = append(waiting, host)
			continue
		}
		for _, n := range ns {
			if n.Status.State != swarm.NodeStateReady {
				stale = append(stale, n)
			}
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].ID < stale[j].ID })
	sort.Strings(waiting)
	return stale, waiting
}
