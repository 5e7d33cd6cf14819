package modules

import (
	"context"
	"errors"
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
	info, err := api.Info(ctx)
	if err != nil {
		return nil, err
	}
	sw := info.Swarm
	if sw.LocalNodeState == swarm.LocalNodeStateInactive {
		return &Result{Msg: "not in a swarm"}, nil
	}
	if sw.ControlAvailable && !p.Bool("force") {
		return nil, errors.New("host is a swarm manager: demote it first (node module, role = \"worker\"), or give force = True")
	}
	res := &Result{Changed: true, Msg: fmt.Sprintf("left the swarm (was node %s, state %s)", sw.NodeID, sw.LocalNodeState)}
	if t.Diff {
		res.Diff = fmt.Sprintf("swarm: %s -> inactive\n", sw.LocalNodeState)
	}
	if t.Check {
		res.Msg = "would leave the swarm (node " + sw.NodeID + ")"
		return res, nil
	}
	if err := api.SwarmLeave(ctx, p.Bool("force")); err != nil {
		return nil, fmt.Errorf("swarm leave: %w", err)
	}
	return res, nil
}
