package modules

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "swarm_leave",
		Doc: `Make the host leave its swarm (the host side of removing a node).

A host in no swarm is left alone. A manager is refused unless force = True:
demote it first (node module, role = "worker", which guards the quorum), so
the swarm keeps its majority. Then remove the node from the managers' list
with node(manager, node = NAME, state = "absent"); playbooks/remove-node.star
does the whole sequence.

    swarm_leave(hosts("worker-3"))`,
		Params: []Param{
			{Name: "force", Type: Bool, Default: false, Doc: "leave also as a manager (the swarm loses that manager at once: it may lose its quorum)"},
		},
		Run: withDocker(runSwarmLeave),
	})
}

func runSwarmLeave(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("swarm_leave", "not in a swarm")
	sw, err := swarmState(ctx, plan, api)
	if err != nil {
		return nil, err
	}
	if sw.LocalNodeState == swarm.LocalNodeStateInactive {
		return plan.Apply(ctx, t, nil)
	}
	if sw.ControlAvailable && !p.Bool("force") {
		return nil, plan.Errorf("host is a swarm manager: demote it first (node module, role = \"worker\"), or give force = True")
	}
	plan.Add("leave swarm", fmt.Sprintf("swarm: %s -> inactive\n", sw.LocalNodeState), func(ctx context.Context) error {
		return api.SwarmLeave(ctx, p.Bool("force"))
	})
	plan.Note(fmt.Sprintf("was node %s, %s", sw.NodeID, sw.LocalNodeState))
	return plan.Apply(ctx, t, nil)
}
