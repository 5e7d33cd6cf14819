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
		Run: withManager("node", runNode),
	})
}

func runNode(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("node", "")
	if p.String("state") == "absent" {
		return removeNode(ctx, t, p, api, plan)
	}
	timeout := waitBudget(ctx, 2*time.Minute)
	n, err := findJoinedNode(ctx, t, api, p.String("node"))
	if err != nil {
		if t.Check && errdefs.IsNotFound(err) {
			return nodeNotJoined(plan, p).Apply(ctx, t, nil)
		}
		return nil, plan.Errorf("%w", err)
	}
	spec := n.Spec
	if a := p.String("availability"); a != "" {
		spec.Availability = swarm.NodeAvailability(a)
	}
	if r := p.String("role"); r != "" {
		spec.Role = swarm.NodeRole(r)
	}
	if err := guardDemote(ctx, api, n, spec); err != nil {
		return nil, plan.Errorf("%w", err)
	}
	name := n.Description.Hostname
	wait := p.Bool("wait")
	plan.Unchanged = "node " + name + " already as wanted"
	nodePlan(plan, n, spec, func(ctx context.Context) error {
		set := func(s *swarm.NodeSpec) { s.Availability, s.Role = spec.Availability, spec.Role }
		if err := updateNode(ctx, api, n, set); err != nil || !wait {
			return err
		}
		return waitNode(ctx, api, n.ID, name, spec, timeout)
	})
	// Waiting also runs when nothing changed: a re-run right after an
	// interrupted drain should still only return once the node is empty.
	if plan.Empty() && wait && !t.Check {
		if err := waitNode(ctx, api, n.ID, name, spec, timeout); err != nil {
			return nil, plan.Errorf("%w", err)
		}
	}
	res := &Result{Outputs: map[string]any{"node_id": n.ID, "availability": string(spec.Availability), "role": string(spec.Role)}}
	return plan.Apply(ctx, t, res)
}

// nodePlan adds the availability and role changes from n's spec to spec.
// One node update makes both (and waits, with wait = True): it is the first
// change's Do.
func nodePlan(plan *Plan, n swarm.Node, spec swarm.NodeSpec, update func(ctx context.Context) error) {
	name := n.Description.Hostname
	do := update
	if a := spec.Availability; a != n.Spec.Availability {
		plan.Add("set availability of "+name+" to "+string(a), nodeDiff(name, "availability", string(n.Spec.Availability), string(a)), do)
		do = nil
	}
	if r := spec.Role; r != n.Spec.Role {
		verb := "promote "
		if r == swarm.NodeRoleWorker {
			verb = "demote "
		}
		plan.Add(verb+name, nodeDiff(name, "role", string(n.Spec.Role), string(r)), do)
	}
}

// nodeDiff is the diff line of one field of a node's spec.
func nodeDiff(name, field, before, after string) string {
	return fmt.Sprintf("node %s: %s: %s -> %s\n", name, field, show(before), show(after))
}

// nodeNotJoined is the --check plan for a node not in the swarm yet: an
// earlier step may join it; a new node is active, and its role comes from
// the join token, which cannot be seen from here.
func nodeNotJoined(plan *Plan, p Params) *Plan {
	ref := p.String("node")
	plan.Unchanged = fmt.Sprintf("node %s is not in the swarm yet (an earlier step may join it, active)", ref)
	if a := p.String("availability"); a != "" && a != string(swarm.NodeAvailabilityActive) {
		plan.Add("set availability of "+ref+" to "+a, nodeDiff(ref, "availability", "active", a), nil)
	}
	if r := p.String("role"); r != "" {
		plan.Add("set role of "+ref+" to "+r, nodeDiff(ref, "role", "(set by the join token)", r), nil)
	}
	if !plan.Empty() {
		plan.Note(notJoinedNote(ref))
	}
	return plan
}

// notJoinedNote says why a node's change is only predicted.
func notJoinedNote(ref string) string {
	return "once " + ref + " has joined the swarm (it is not in it yet; an earlier step may join it)"
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

// guardDemote refuses a demotion that would leave too few Ready managers
// for a raft majority.
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
