package runtime

// swarm_status(managers): which of the inventory's managers can be talked
// to now, and which one leads, so day-2 playbooks do not depend on
// managers[0] being up.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// probeTimeout bounds asking one manager's engine for its state.
const probeTimeout = 15 * time.Second

// managerProbe is what one inventory host said.
type managerProbe struct {
	host    *Host
	healthy bool   // an active swarm manager whose control plane answers
	why     string // why not, for messages
}

// builtinSwarmStatus implements swarm_status(managers, hosts = managers): a
// struct with manager (a healthy manager: the leader if it is one of them,
// else the first that answers), leader (the leading manager's host, or
// None), ready (the healthy ones), down (the others, with why in .reasons)
// and members (those of hosts that are nodes of the swarm, not down).
func (e *Engine) builtinSwarmStatus(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var targets, among starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "managers", &targets, "hosts?", &among); err != nil {
		return nil, err
	}
	hosts, err := e.targets(targets)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	others := hosts
	if among != nil {
		if others, err = e.targets(among); err != nil {
			return nil, fmt.Errorf("%s: hosts: %v", b.Name(), err)
		}
	}
	probes := e.probeManagers(hosts)
	var ready, down []*Host
	reasons := starlark.NewDict(len(hosts))
	for _, p := range probes {
		if p.healthy {
			ready = append(ready, p.host)
		} else {
			down = append(down, p.host)
			reasons.SetKey(starlark.String(p.host.name), starlark.String(e.redact.Redact(p.why)))
		}
	}
	var leader, manager starlark.Value = starlark.None, starlark.None
	var members []*Host
	if len(ready) > 0 {
		manager = ready[0]
		for _, n := range e.swarmNodes(ready[0]) {
			if h := hostOfNode(n, others); h != nil && n.Status.State != swarm.NodeStateDown {
				members = union(members, []*Host{h})
			}
			if n.ManagerStatus == nil || !n.ManagerStatus.Leader {
				continue
			}
			if l := hostOfNode(n, hosts); l != nil {
				leader = l
				if slices.Contains(ready, l) {
					manager = l
				}
			}
		}
	}
	return starlarkstruct.FromStringDict(starlark.String("swarm_status"), starlark.StringDict{
		"manager": manager,
		"leader":  leader,
		"ready":   &Group{label: "swarm_status.ready", hosts: ready},
		"down":    &Group{label: "swarm_status.down", hosts: down},
		"reasons": reasons,
		"members": &Group{label: "swarm_status.members", hosts: members},
	}), nil
}

// probeManagers asks every host in parallel whether it is a healthy
// manager. Nothing is recorded: an unreachable manager is an answer here,
// not a failure of the run.
func (e *Engine) probeManagers(hosts []*Host) []managerProbe {
	out := make([]managerProbe, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = managerProbe{host: h}
			if e.droppedOf([]*Host{h}) > 0 {
				out[i].why = "failed earlier in this run"
				return
			}
			ok, why := e.probeManager(h)
			out[i].healthy, out[i].why = ok, why
		}()
	}
	wg.Wait()
	return out
}

func (e *Engine) probeManager(h *Host) (bool, string) {
	api, err := e.docker(e.ctx, h, e.becomeFor(h, e.opts.Become))
	if err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(e.ctx, probeTimeout)
	defer cancel()
	info, err := api.Info(ctx)
	if err != nil {
		return false, "docker: " + err.Error()
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
		return false, fmt.Sprintf("not in an active swarm (state %q)", info.Swarm.LocalNodeState)
	}
	if !info.Swarm.ControlAvailable {
		return false, "not a manager"
	}
	// A manager cut off from the majority still says ControlAvailable;
	// listing the nodes needs a leader.
	if _, err := api.NodeList(ctx, swarm.NodeListOptions{}); err != nil {
		return false, "manager without a leader: " + err.Error()
	}
	return true, ""
}

// swarmNodes lists the swarm's nodes through via (nil when it cannot).
func (e *Engine) swarmNodes(via *Host) []swarm.Node {
	api, err := e.docker(e.ctx, via, e.becomeFor(via, e.opts.Become))
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, probeTimeout)
	defer cancel()
	nodes, _ := api.NodeList(ctx, swarm.NodeListOptions{})
	return nodes
}

// hostOfNode is the host among hosts that is node n (by address or by
// hostname, or the host's swarm_node_name variable), or nil.
func hostOfNode(n swarm.Node, hosts []*Host) *Host {
	addrs := []string{n.Status.Addr}
	if n.ManagerStatus != nil {
		if a, _, err := net.SplitHostPort(n.ManagerStatus.Addr); err == nil {
			addrs = append(addrs, a)
		}
	}
	for _, h := range hosts {
		name, _ := h.spec.Vars["swarm_node_name"].(string)
		if h.name == n.Description.Hostname || (name != "" && name == n.Description.Hostname) {
			return h
		}
		for _, a := range addrs {
			if a != "" && a == h.address {
				return h
			}
		}
	}
	return nil
}
