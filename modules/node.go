package modules

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "node",
		Doc: `Set a swarm node's availability and role (run it on a manager).

availability drain moves the node's tasks elsewhere (for maintenance),
pause stops new tasks, active returns it to service. role promotes a worker
to manager or demotes a manager. With wait = True the step waits (up to the
step's timeout argument, 2m when none is given) after a drain until no service task runs on the node any more; for an
active node until it is Ready and every service runs as many tasks as it
wants (after a Docker restart, before the next node goes); after a
promotion until the node is a reachable manager; after a demotion until
it has left the managers (a demoted leader has handed over its
leadership by then). Demoting a manager is
refused when the managers left Ready would not hold the raft majority.

    mgr = hosts("managers")[0]
    node(mgr, node = "worker-1", availability = "drain", wait = True)
    # ... maintenance ...
    node(mgr, node = "worker-1", availability = "active")`,
		Params: []Param{
			{Name: "node", Type: String, Required: true, Doc: "node hostname, name or ID"},
			{Name: "availability", Type: String, Choices: []string{"active", "pause", "drain"}, Doc: "scheduling availability; unchanged when not given"},
			{Name: "role", Type: String, Choices: []string{"manager", "worker"}, Doc: "node role; unchanged when not given"},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "absent removes a worker that has left the swarm (or is down) from the node list, waiting up to a minute for it to be seen down; a manager must be demoted first"},
			{Name: "wait", Type: Bool, Default: false, Doc: "after drain wait until the node's tasks have moved away; for an active node until it is Ready and the services have all their tasks running; after promote until it is a reachable manager; after demote until it has left the managers"},
		},
		Outputs: map[string]string{
			"node_id":      "the node's ID",
			"availability": "availability after the step",
			"role":         "role after the step",
		},
		Run: withDocker(runNode),
	})
}

func runNode(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	api, _, err := managerAPI(ctx, t, api)
	if err != nil {
		return nil, err
	}
	if p.String("state") == "absent" {
		return removeNode(ctx, t, p, api)
	}
	timeout := waitBudget(ctx, 2*time.Minute)
	n, err := findJoinedNode(ctx, t, api, p.String("node"))
	if err != nil {
		if t.Check && errdefs.IsNotFound(err) {
			return nodeNotJoined(t, p), nil
		}
		return nil, err
	}
	spec := n.Spec
	var ch changes
	if a := p.String("availability"); a != "" && string(spec.Availability) != a {
		ch.add("availability", string(spec.Availability), a)
		spec.Availability = swarm.NodeAvailability(a)
	}
	if r := p.String("role"); r != "" && string(spec.Role) != r {
		ch.add("role", string(spec.Role), r)
		spec.Role = swarm.NodeRole(r)
	}
	name := n.Description.Hostname
	res := &Result{Outputs: map[string]any{"node_id": n.ID, "availability": string(spec.Availability), "role": string(spec.Role)}}
	if len(ch) > 0 {
		res.Changed = true
		res.Msg = "node " + name + ": " + strings.Join(ch, ", ")
		if t.Diff {
			res.Diff = "node " + name + ":\n" + ch.String()
		}
		if err := guardDemote(ctx, api, n, spec); err != nil {
			return nil, err
		}
		if t.Check {
			return res, nil
		}
		set := func(s *swarm.NodeSpec) { s.Availability, s.Role = spec.Availability, spec.Role }
		if err := updateNode(ctx, api, n, set); err != nil {
			return nil, fmt.Errorf("node update %s: %w", name, err)
		}
	} else {
		res.Msg = "node " + name + " already as wanted"
	}
	if !p.Bool("wait") || t.Check {
		return res, nil
	}
	// Waiting also runs when nothing changed: a re-run right after an
	// interrupted drain should still only return once the node is empty.
	if err := waitNode(ctx, api, n.ID, name, spec, timeout); err != nil {
		return nil, err
	}
	return res, nil
}

// nodeNotJoined is the --check result for a node not in the swarm yet: an
// earlier step may join it; a new node is active, and its role comes from
// the join token, which cannot be seen from here.
func nodeNotJoined(t *Target, p Params) *Result {
	var ch changes
	if a := p.String("availability"); a != "" && a != string(swarm.NodeAvailabilityActive) {
		ch.add("availability", "active", a)
	}
	if r := p.String("role"); r != "" {
		ch.note("role: (set by the join token) -> %q", r)
	}
	res := &Result{Changed: len(ch) > 0, Msg: fmt.Sprintf("node %s is not in the swarm yet (an earlier step may join it, active)", p.String("node"))}
	if res.Changed {
		res.Msg = fmt.Sprintf("would update node %s once it has joined: %s", p.String("node"), strings.Join(ch, ", "))
		if t.Diff {
			res.Diff = ch.String()
		}
	}
	return res
}

// waitNode waits until the node is as its spec says: drained of running
// tasks, ready when active, in its role.
func waitNode(ctx context.Context, api client.APIClient, id, name string, spec swarm.NodeSpec, timeout time.Duration) error {
	if spec.Availability == swarm.NodeAvailabilityDrain {
		err := waitUntil(ctx, timeout, time.Second, func() (bool, string, error) {
			tasks, err := api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("node", id))})
			if err != nil {
				return false, "", err
			}
			left := 0
			for _, tk := range tasks {
				if tk.Status.State == swarm.TaskStateRunning || tk.Status.State == swarm.TaskStateStarting || tk.Status.State == swarm.TaskStatePreparing {
					left++
				}
			}
			return left == 0, fmt.Sprintf("%d task(s) still running on %s", left, name), nil
		})
		if err != nil {
			return fmt.Errorf("drain %s: %w", name, err)
		}
	}
	if spec.Availability == swarm.NodeAvailabilityActive {
		if err := waitNodeReady(ctx, api, id, name, timeout); err != nil {
			return err
		}
	}
	return waitRole(ctx, api, id, name, spec.Role, timeout)
}

// waitRole waits after a promotion until the node is a reachable manager,
// after a demotion until it has left the managers (a demoted leader has
// then handed its leadership over). Errors while raft changes its members
// or elects a leader are waited out.
func waitRole(ctx context.Context, api client.APIClient, id, name string, role swarm.NodeRole, timeout time.Duration) error {
	err := waitUntil(ctx, timeout, time.Second, func() (bool, string, error) {
		cur, _, err := api.NodeInspectWithRaw(ctx, id)
		if err != nil {
			return false, err.Error(), nil
		}
		if role == swarm.NodeRoleWorker {
			return cur.ManagerStatus == nil, name + " is still a manager", nil
		}
		if cur.ManagerStatus != nil && cur.ManagerStatus.Reachability == swarm.ReachabilityReachable {
			return true, "", nil
		}
		return false, name + " is not yet a reachable manager", nil
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", map[swarm.NodeRole]string{swarm.NodeRoleWorker: "demote", swarm.NodeRoleManager: "promote"}[role], name, err)
	}
	return nil
}

// guardDemote refuses a demotion that would leave too few Ready managers
// for a raft majority.
// updateNode applies set to node n's spec. When the node changed since it
// was read ("update out of sequence": a promotion or demotion still being
// reconciled, the agent reporting), it is read again and set applied to the
// new version, a few times.
func updateNode(ctx context.Context, api client.APIClient, n swarm.Node, set func(*swarm.NodeSpec)) error {
	for try := 1; ; try++ {
		spec := n.Spec
		set(&spec)
		err := api.NodeUpdate(ctx, n.ID, n.Version, spec)
		if err == nil || try == 5 || !strings.Contains(err.Error(), "out of sequence") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(try) * 300 * time.Millisecond):
		}
		if n, _, err = api.NodeInspectWithRaw(ctx, n.ID); err != nil {
			return err
		}
	}
}

func guardDemote(ctx context.Context, api client.APIClient, n swarm.Node, spec swarm.NodeSpec) error {
	if n.Spec.Role != swarm.NodeRoleManager || spec.Role != swarm.NodeRoleWorker {
		return nil
	}
	nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return err
	}
	_, err = quorumOf(nodes).allow([]string{n.ID}, "demote")
	return err
}

// waitNodeReady waits until the node is Ready (and reachable, for a
// manager) and every service runs the tasks it wants: a node back from a
// Docker restart has its tasks rescheduled before the next one goes.
func waitNodeReady(ctx context.Context, api client.APIClient, id, name string, timeout time.Duration) error {
	err := waitUntil(ctx, timeout, time.Second, func() (bool, string, error) {
		// A manager answers errors while raft elects a leader: wait on.
		cur, _, err := api.NodeInspectWithRaw(ctx, id)
		if err != nil {
			return false, err.Error(), nil
		}
		if cur.Status.State != swarm.NodeStateReady {
			return false, fmt.Sprintf("%s is %s", name, cur.Status.State), nil
		}
		if cur.ManagerStatus != nil && cur.ManagerStatus.Reachability != swarm.ReachabilityReachable {
			return false, fmt.Sprintf("manager %s is %s", name, cur.ManagerStatus.Reachability), nil
		}
		svcs, err := api.ServiceList(ctx, swarm.ServiceListOptions{Status: true})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, s := range svcs {
			if st := s.ServiceStatus; st != nil && s.Spec.Mode.ReplicatedJob == nil && s.Spec.Mode.GlobalJob == nil && st.RunningTasks < st.DesiredTasks {
				return false, fmt.Sprintf("service %s runs %d of %d tasks", s.Spec.Name, st.RunningTasks, st.DesiredTasks), nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to be Ready with its services running: %w", name, err)
	}
	return nil
}
