package modules

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "network",
		Doc: `Create or remove a Docker network, by default a swarm overlay network.

Run it on a manager for overlay networks. Networks cannot be changed in
place: if an existing network differs in any property (driver, flags,
subnet, options, labels) the step fails with the differences unless
recreate = True, which removes and recreates it - refused while services
use the network (they are named). Options the engine adds itself (the
overlay VXLAN id list) are ignored; a subnet/gateway/ip_range left out is
not compared, since the engine allocates one.

    network(hosts("managers")[0], name = "vault-network", driver = "overlay",
            attachable = True, encrypted = True, subnet = "10.20.0.0/24")`,
		Params: []Param{
			{Name: "name", Type: String, Required: true, Doc: "network name"},
			{Name: "driver", Type: String, Default: "overlay", Doc: "network driver"},
			{Name: "attachable", Type: Bool, Default: false, Doc: "let standalone containers attach (overlay)"},
			{Name: "encrypted", Type: Bool, Default: false, Doc: "encrypt the overlay data path (IPsec; option \"encrypted\")"},
			{Name: "internal", Type: Bool, Default: false, Doc: "no external connectivity"},
			{Name: "subnet", Type: String, Doc: "subnet in CIDR form, e.g. 10.20.0.0/24"},
			{Name: "gateway", Type: String, Doc: "gateway address within subnet"},
			{Name: "ip_range", Type: String, Doc: "range to allocate container addresses from, CIDR within subnet"},
			{Name: "mtu", Type: Int, Doc: "MTU (option com.docker.network.driver.mtu)"},
			{Name: "labels", Type: Dict, Doc: "network labels"},
			{Name: "options", Type: Dict, Doc: "other driver options"},
			{Name: "scope", Type: String, Doc: "swarm or local; default swarm for overlay, local otherwise"},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "whether the network should exist"},
			{Name: "recreate", Type: Bool, Default: false, Doc: "remove and recreate a network that differs (refused while services use it)"},
		},
		Outputs: map[string]string{"id": "the network's ID (absent in check mode before creation)", "name": "the network's name"},
		Run:     withDocker(runNetwork),
	})
}

// engineNetworkOptions are driver options the engine adds on its own.
var engineNetworkOptions = map[string]bool{"com.docker.network.driver.overlay.vxlanid_list": true}

const mtuOption = "com.docker.network.driver.mtu"

// desiredNetwork builds the create options a playbook asks for.
func desiredNetwork(p Params) network.CreateOptions {
	o := network.CreateOptions{
		Driver:     p.String("driver"),
		Scope:      p.String("scope"),
		Attachable: p.Bool("attachable"),
		Internal:   p.Bool("internal"),
		Options:    stringMap(p.Dict("options")),
		Labels:     stringMap(p.Dict("labels")),
	}
	if o.Driver == "" {
		o.Driver = "overlay"
	}
	if o.Scope == "" {
		o.Scope = "local"
		if o.Driver == "overlay" {
			o.Scope = "swarm"
		}
	}
	if o.Options == nil {
		o.Options = map[string]string{}
	}
	if p.Bool("encrypted") {
		o.Options["encrypted"] = ""
	}
	if p.Has("mtu") {
		o.Options[mtuOption] = fmt.Sprint(p.Int("mtu"))
	}
	if p.Has("subnet") || p.Has("gateway") || p.Has("ip_range") {
		o.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
			Subnet: p.String("subnet"), Gateway: p.String("gateway"), IPRange: p.String("ip_range"),
		}}}
	}
	return o
}

// networkDiff lists how an existing network differs from the wanted one.
func networkDiff(cur network.Inspect, want network.CreateOptions) changes {
	var ch changes
	if cur.Driver != want.Driver {
		ch.add("driver", cur.Driver, want.Driver)
	}
	if cur.Scope != want.Scope {
		ch.add("scope", cur.Scope, want.Scope)
	}
	if cur.Attachable != want.Attachable {
		ch.add("attachable", cur.Attachable, want.Attachable)
	}
	if cur.Internal != want.Internal {
		ch.add("internal", cur.Internal, want.Internal)
	}
	curOpts := map[string]string{}
	for k, v := range cur.Options {
		if !engineNetworkOptions[k] {
			curOpts[k] = v
		}
	}
	var oc changes
	labelChanges(&oc, "options ", curOpts, want.Options, true)
	ch = append(ch, oc...)
	var lc changes
	labelChanges(&lc, "labels ", cur.Labels, want.Labels, true)
	ch = append(ch, lc...)
	if want.IPAM != nil {
		w := want.IPAM.Config[0]
		var c network.IPAMConfig
		if len(cur.IPAM.Config) > 0 {
			c = cur.IPAM.Config[0]
		}
		if w.Subnet != "" && c.Subnet != w.Subnet {
			ch.add("subnet", c.Subnet, w.Subnet)
		}
		if w.Gateway != "" && c.Gateway != w.Gateway {
			ch.add("gateway", c.Gateway, w.Gateway)
		}
		if w.IPRange != "" && c.IPRange != w.IPRange {
			ch.add("ip_range", c.IPRange, w.IPRange)
		}
	}
	return ch
}

// findNetwork returns the network with exactly that name (the API's name
// filter matches substrings).
func findNetwork(ctx context.Context, api client.APIClient, name string) (*network.Inspect, error) {
	// A manager that restarted many times may list, for a while, only a
	// stale copy that inspect does not find: look again, a few times.
	for try := 1; ; try++ {
		n, found, err := listNetwork(ctx, api, name)
		if err != nil || found || n == nil || try == 4 {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// listNetwork looks name up in the network list; found says whether inspect
// found it (else the network returned is a listed one inspect missed).
func listNetwork(ctx context.Context, api client.APIClient, name string) (*network.Inspect, bool, error) {
	list, err := api.NetworkList(ctx, network.ListOptions{Filters: nameFilter(name)})
	if err != nil {
		return nil, false, err
	}
	// A manager that restarted many times may also list a stale copy under
	// the same name: one inspect does not find, or a node's own copy of a
	// network since recreated, which the swarm no longer has. Take the
	// newest one inspect finds.
	var stale, best *network.Inspect
	for _, n := range list {
		if n.Name != name {
			continue
		}
		full, err := api.NetworkInspect(ctx, n.ID, network.InspectOptions{})
		if err == nil && (best == nil || full.Created.After(best.Created)) {
			best = &full
		}
		if err != nil && stale == nil {
			stale = &n
		}
	}
	if best != nil {
		return best, true, nil
	}
	return stale, false, nil
}

func networkUsers(ctx context.Context, api client.APIClient, n *network.Inspect) ([]string, error) {
	return servicesUsing(ctx, api, func(s swarm.ServiceSpec) bool {
		nets := append(append([]swarm.NetworkAttachmentConfig{}, s.TaskTemplate.Networks...), s.Networks...) //nolint:staticcheck // old specs still use ServiceSpec.Networks
		for _, a := range nets {
			if a.Target == n.ID || a.Target == n.Name {
				return true
			}
		}
		return false
	})
}

func runNetwork(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	name := p.String("name")
	plan := NewPlan("network", "network "+name+" already as wanted")
	want := desiredNetwork(p)
	if want.Scope == "swarm" {
		var err error
		if api, _, err = managerAPI(ctx, t, api); err != nil {
			return nil, plan.Errorf("%w", err)
		}
	}
	cur, err := findNetwork(ctx, api, name)
	if err != nil {
		return nil, plan.Errorf("looking up network %s: %w", name, err)
	}
	res := &Result{Outputs: map[string]any{"name": name}}
	if p.String("state") == "absent" {
		plan.Unchanged = "network " + name + " already absent"
		err = planNetworkAbsent(ctx, plan, api, name, cur)
	} else {
		err = planNetworkPresent(ctx, plan, api, p, want, cur, res)
	}
	if err != nil {
		return nil, err
	}
	return plan.Apply(ctx, t, res)
}

// planNetworkAbsent plans the removal of the network, refused while a
// service uses it.
func planNetworkAbsent(ctx context.Context, plan *Plan, api client.APIClient, name string, cur *network.Inspect) error {
	if cur == nil {
		return nil
	}
	what := "remove network " + name
	users, err := networkUsers(ctx, api, cur)
	if err != nil {
		return plan.Errorf("%s: %w", what, err)
	}
	if len(users) > 0 {
		return plan.Errorf("%s: used by services %s; remove them first", what, strings.Join(users, ", "))
	}
	plan.Add(what, "- network "+name+"\n", func(ctx context.Context) error { return removeNetworkNow(ctx, api, name, cur) })
	return nil
}

// removeNetworkNow removes the network. A manager just restarted or
// unlocked may, for a while, show a copy the swarm does not have, whose
// removal fails: so a failed removal looks again a second later and
// decides afresh (gone is done, used by a service is refused), 10 tries at
// most.
func removeNetworkNow(ctx context.Context, api client.APIClient, name string, cur *network.Inspect) error {
	for try := 1; ; try++ {
		rmErr := api.NetworkRemove(ctx, cur.ID)
		if rmErr == nil {
			waitNetworkGone(ctx, api, name)
			return nil
		}
		if try == 10 {
			return rmErr
		}
		select {
		case <-ctx.Done():
			return rmErr
		case <-time.After(time.Second):
		}
		var err error
		if cur, err = findNetwork(ctx, api, name); err != nil || cur == nil {
			return err
		}
		users, err := networkUsers(ctx, api, cur)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("used by services %s; remove them first", strings.Join(users, ", "))
		}
	}
}

// waitNetworkGone waits, up to 20 s, until the manager no longer lists the
// network: a node's own copy outlives the swarm's for a moment, and a run
// right after would take it for the network.
func waitNetworkGone(ctx context.Context, api client.APIClient, name string) {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if n, _, err := listNetwork(ctx, api, name); err != nil || n == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// planNetworkPresent plans creating the network, or recreating one that
// differs: networks cannot change in place, so that takes recreate = True
// and no service using it.
func planNetworkPresent(ctx context.Context, plan *Plan, api client.APIClient, p Params, want network.CreateOptions, cur *network.Inspect, res *Result) error {
	name := p.String("name")
	create := func(ctx context.Context) error {
		created, err := api.NetworkCreate(ctx, name, want)
		if err != nil {
			return err
		}
		res.Outputs["id"] = created.ID
		return nil
	}
	if cur == nil {
		plan.Add("create network "+name, fmt.Sprintf("+ network %s (driver %s, scope %s, attachable %v, internal %v, encrypted %v)\n",
			name, want.Driver, want.Scope, want.Attachable, want.Internal, p.Bool("encrypted")), create)
		return nil
	}
	res.Outputs["id"] = cur.ID
	ch := networkDiff(*cur, want)
	if len(ch) == 0 {
		return nil
	}
	what := "recreate network " + name + " (" + strings.Join(ch, "; ") + ")"
	if !p.Bool("recreate") {
		return plan.Errorf("%s: networks cannot change in place; set recreate = True to remove and recreate it", what)
	}
	users, err := networkUsers(ctx, api, cur)
	if err != nil {
		return plan.Errorf("%s: %w", what, err)
	}
	if len(users) > 0 {
		return plan.Errorf("%s: refused while services use it: %s", what, strings.Join(users, ", "))
	}
	plan.Add(what, "network "+name+":\n"+ch.String(), func(ctx context.Context) error {
		if err := api.NetworkRemove(ctx, cur.ID); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		delete(res.Outputs, "id")
		if err := create(ctx); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return nil
	})
	return nil
}
