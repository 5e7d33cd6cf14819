package modules

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "quorum_guard",
		Doc: `Refuse to go on when taking nodes down would lose the swarm's raft quorum.

Run it on a healthy manager right before an operation that takes nodes out
of the control plane (a Docker restart, a reboot, a demotion, a removal). It
counts the managers that are Ready and reachable now; if the managers among
nodes were gone, would the rest still be a majority of all managers? If not
the step fails, naming the managers that are already down, and nothing is
touched. Workers never count. A single-manager swarm passes with a note: it
has no quorum to keep. Read-only, so --check gives the same answer.

    via = swarm_status(hosts("managers")).manager
    quorum_guard(via, nodes = ["manager-2"], action = "reboot")`,
		Params: []Param{
			{Name: "nodes", Type: List, Required: true, Doc: "the nodes about to go down: hostnames, node names, IDs or addresses"},
			{Name: "action", Type: String, Default: "take down", Doc: "what is about to happen, for the message (\"restart Docker on\", \"reboot\", \"demote\")"},
			{Name: "refuse", Type: Bool, Default: true, Doc: "fail the step when quorum would be lost; False only reports it in the output safe (for a playbook that then takes another way)"},
		},
		Outputs: map[string]string{
			"managers": "managers in the swarm",
			"ready":    "managers Ready and reachable now",
			"majority": "managers a majority needs",
			"safe":     "whether the nodes can go down without losing the quorum",
		},
		Run: withManager("quorum_guard", runQuorumGuard),
	})
}

// runQuorumGuard only reads: its plan never has a change, so check mode and
// a real run give the same answer; the kit's gate words it.
func runQuorumGuard(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("quorum_guard", "no swarm yet: no quorum to keep")
	if _, empty := api.(emptySwarm); empty {
		return plan.Apply(ctx, t, &Result{Outputs: map[string]any{"safe": true}})
	}
	nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	q := quorumOf(nodes)
	res := &Result{Outputs: map[string]any{"managers": q.total, "ready": len(q.ready), "majority": q.majority()}}
	plan.Unchanged, err = q.allow(p.Strings("nodes"), p.String("action"))
	res.Outputs["safe"] = err == nil
	if err != nil {
		if p.Bool("refuse") {
			return nil, plan.Errorf("%w", err)
		}
		plan.Unchanged = err.Error()
	}
	return plan.Apply(ctx, t, res)
}

// quorum is the control plane as the node list shows it.
type quorum struct {
	total    int
	ready    []swarm.Node // managers Ready and reachable
	notReady []string     // names of the other managers
}

func quorumOf(nodes []swarm.Node) quorum {
	var q quorum
	sort.Slice(nodes, func(i, j int) bool { return nodeLabel(nodes[i]) < nodeLabel(nodes[j]) })
	for _, n := range nodes {
		if n.ManagerStatus == nil {
			continue
		}
		q.total++
		if n.Status.State == swarm.NodeStateReady && n.ManagerStatus.Reachability == swarm.ReachabilityReachable {
			q.ready = append(q.ready, n)
		} else {
			q.notReady = append(q.notReady, nodeLabel(n))
		}
	}
	return q
}

func (q quorum) majority() int { return q.total/2 + 1 }

// allow says whether the Ready managers that are not in going still make a
// majority; the error explains a refusal.
func (q quorum) allow(going []string, action string) (string, error) {
	var leaving []string
	left := 0
	for _, n := range q.ready {
		if nodeMatches(n, going) {
			leaving = append(leaving, nodeLabel(n))
		} else {
			left++
		}
	}
	what := strings.Join(going, ", ")
	switch {
	case len(leaving) == 0:
		return fmt.Sprintf("%s: no Ready manager among them; %d of %d managers Ready", what, len(q.ready), q.total), nil
	case q.total == 1:
		return fmt.Sprintf("%s is the only manager: the control plane is unavailable while it is down (a single-manager swarm has no quorum to keep)", what), nil
	case left >= q.majority():
		return fmt.Sprintf("quorum holds: without %s, %d of %d managers stay Ready (majority %d)", strings.Join(leaving, ", "), left, q.total, q.majority()), nil
	}
	down := ""
	if len(q.notReady) > 0 {
		down = fmt.Sprintf(" (not Ready now: %s)", strings.Join(q.notReady, ", "))
	}
	return "", fmt.Errorf("refusing to %s %s: %d of %d managers are Ready%s; without %s only %d would be, and raft needs %d for a majority: the swarm would lose its quorum. Bring the other managers back first",
		action, strings.Join(leaving, ", "), len(q.ready), q.total, down, strings.Join(leaving, ", "), left, q.majority())
}

// nodeMatches reports whether one of refs names the node (hostname, node
// name, ID or address).
func nodeMatches(n swarm.Node, refs []string) bool {
	addrs := []string{n.Status.Addr}
	if n.ManagerStatus != nil {
		if h, _, err := net.SplitHostPort(n.ManagerStatus.Addr); err == nil {
			addrs = append(addrs, h)
		}
	}
	for _, r := range refs {
		if r == "" {
			continue
		}
		if r == n.ID || r == n.Description.Hostname || r == n.Spec.Name {
			return true
		}
		for _, a := range addrs {
			if r == a {
				return true
			}
		}
	}
	return false
}

func nodeLabel(n swarm.Node) string {
	if n.Description.Hostname != "" {
		return n.Description.Hostname
	}
	return n.ID
}
