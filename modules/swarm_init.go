package modules

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "swarm_init",
		Doc: `Create a Docker Swarm on the host, making it the first manager.

If the host already manages a swarm nothing is created; the settings that
can change on a live swarm (cert_expiry, task_history_limit, autolock) are
updated when they differ, and the others (default_addr_pool, subnet_size,
data_path_port) fail the step if given and different, since they are fixed
at creation. A host that is a worker, or stuck joining another swarm, fails
the step. The join tokens are returned as (sensitive) outputs, also under
--check when the swarm exists, so later steps can join other hosts:

    init = swarm_init(hosts("managers")[0], cert_expiry = "720h")
    swarm_join(hosts("workers"), manager = init.addr, token = init.worker_token)`,
		Params: []Param{
			{Name: "advertise_addr", Type: String, Doc: "address other nodes reach this manager at (IP, IP:port or interface); default: the host's inventory address"},
			{Name: "listen_addr", Type: String, Default: "0.0.0.0:2377", Doc: "address the manager listens on for cluster traffic"},
			{Name: "default_addr_pool", Type: List, Doc: "CIDR pools overlay network subnets are allocated from (fixed at creation)"},
			{Name: "subnet_size", Type: Int, Doc: "prefix length of subnets taken from default_addr_pool (fixed at creation)"},
			{Name: "data_path_port", Type: Int, Doc: "UDP port of the VXLAN data path, default 4789 (fixed at creation)"},
			{Name: "cert_expiry", Type: String, Doc: "validity of node certificates, a duration such as 2160h (updatable)"},
			{Name: "task_history_limit", Type: Int, Doc: "task history retention limit (updatable)"},
			{Name: "autolock", Type: Bool, Doc: "lock managers' raft keys with an unlock key on restart (updatable); the key is output as unlock_key"},
			{Name: "force_new_cluster", Type: Bool, Default: false, Doc: "when this host holds swarm state but its managers have no leader (the quorum is lost, or the state was restored from a backup onto it), make it the one manager of a new cluster with that state (docker swarm init --force-new-cluster); a working manager is left alone"},
			{Name: "rotate_tokens", Type: List, Doc: "on an existing swarm, replace these join tokens now: \"worker\", \"manager\" (an action: changed on every run that gives it); hosts that hold an old token can no longer join"},
			{Name: "rotate_ca", Type: Bool, Default: false, Doc: "on an existing swarm, rotate the root CA now (an action: changed on every run that gives it); waits like ca_rotate_within"},
			{Name: "ca_rotate_within", Type: String, Doc: "on an existing swarm, rotate the root CA when it expires within this duration (e.g. 720h); the step waits until every node has a certificate from the new CA, and the join tokens change with it"},
		},
		Outputs: map[string]string{
			"node_id":       "this manager's node ID",
			"cluster_id":    "the swarm's cluster ID",
			"addr":          "host:port to join this manager at (its advertised address, port 2377)",
			"worker_token":  "join token for workers (sensitive)",
			"manager_token": "join token for managers (sensitive)",
			"unlock_key":    "the unlock key when autolock is on (sensitive)",
		},
		SensitiveOutputs: []string{"worker_token", "manager_token", "unlock_key"},
		Run:              withDocker(runSwarmInit),
	})
}

func runSwarmInit(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("swarm_init", "")
	var certExpiry time.Duration
	if p.Has("cert_expiry") {
		var err error
		if certExpiry, err = time.ParseDuration(p.String("cert_expiry")); err != nil {
			return nil, plan.Errorf("cert_expiry: %w", err)
		}
	}
	sw, err := swarmState(ctx, plan, api)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if p.Bool("force_new_cluster") && forceNewCluster(ctx, t, p, api, sw, plan, res) {
		return plan.Apply(ctx, t, res)
	}
	switch sw.LocalNodeState {
	case swarm.LocalNodeStateInactive:
		initSwarm(t, p, api, certExpiry, plan, res)
		return plan.Apply(ctx, t, res)
	case swarm.LocalNodeStateActive:
		if !sw.ControlAvailable {
			return nil, plan.Errorf("host is already a worker of swarm (managers %s); swarm_init needs a host outside any swarm or a manager", peerAddrs(sw.RemoteManagers))
		}
		return updateSwarm(ctx, t, p, api, sw, certExpiry, plan, res)
	case swarm.LocalNodeStateLocked:
		return nil, plan.Errorf("host's swarm is locked: unlock it with `docker swarm unlock` first")
	default:
		return nil, plan.Errorf("host is in swarm state %q (%s); leave it (`docker swarm leave --force`) or let swarm_join repair it", sw.LocalNodeState, sw.Error)
	}
}

// swarmState reads the host's swarm state (one Info call).
func swarmState(ctx context.Context, plan *Plan, api client.APIClient) (swarm.Info, error) {
	info, err := api.Info(ctx)
	if err != nil {
		return swarm.Info{}, plan.Errorf("engine info: %w", err)
	}
	return info.Swarm, nil
}

// initSwarm plans creating a swarm on a host outside any; the outputs are
// known once it exists.
func initSwarm(t *Target, p Params, api client.APIClient, certExpiry time.Duration, plan *Plan, res *Result) {
	advertise := swarmAdvertise(t, p)
	req := swarm.InitRequest{
		ListenAddr:       p.String("listen_addr"),
		AdvertiseAddr:    advertise,
		DefaultAddrPool:  p.Strings("default_addr_pool"),
		SubnetSize:       uint32(p.Int("subnet_size")),
		DataPathPort:     uint32(p.Int("data_path_port")),
		AutoLockManagers: p.Bool("autolock"),
	}
	req.Spec.CAConfig.NodeCertExpiry = certExpiry
	if p.Has("task_history_limit") {
		l := p.Int("task_history_limit")
		req.Spec.Orchestration.TaskHistoryRetentionLimit = &l
	}
	diff := fmt.Sprintf("swarm: inactive -> manager of a new swarm (advertise %s, listen %s)\n", advertise, req.ListenAddr)
	plan.Add("initialise swarm (advertise "+advertise+")", diff, func(ctx context.Context) error {
		if _, err := api.SwarmInit(ctx, req); err != nil {
			return err
		}
		return liveSwarmOutputs(ctx, api, res)
	})
}

// swarmAdvertise is the address other nodes reach this manager at.
func swarmAdvertise(t *Target, p Params) string {
	if a := p.String("advertise_addr"); a != "" {
		return a
	}
	return t.Address
}

// updateSwarm brings an existing swarm's settings to the wanted ones (one
// SwarmUpdate, which the first change makes); the settings fixed at
// creation can only be compared. The swarm exists, so its tokens are
// output even in check mode, unless this step would replace them.
func updateSwarm(ctx context.Context, t *Target, p Params, api client.APIClient, sw swarm.Info, certExpiry time.Duration, plan *Plan, res *Result) (*Result, error) {
	cur, err := api.SwarmInspect(ctx)
	if err != nil {
		return nil, plan.Errorf("swarm inspect: %w", err)
	}
	if fixed := fixedSettingChanges(p, cur); len(fixed) > 0 {
		return nil, plan.Errorf("swarm exists with settings that are fixed at creation and differ:\n%s", fixed.String())
	}
	plan.Unchanged = "already a manager of swarm " + cur.ID
	spec := cur.Spec
	swarmSettingChanges(p, &spec, certExpiry, plan)
	flags, ca, err := swarmRotations(api, p, cur, &spec, plan)
	if err != nil {
		return nil, err
	}
	if !plan.Empty() {
		wait := plan.Changes[0].Do // the CA rotation's, when it is the only change
		plan.Changes[0].Do = func(ctx context.Context) error {
			if err := api.SwarmUpdate(ctx, cur.Version, spec, flags); err != nil {
				return err
			}
			if wait != nil {
				return wait(ctx)
			}
			return nil
		}
	}
	if _, err := plan.Apply(ctx, t, res); err != nil {
		return nil, err
	}
	if err := swarmInitOutputs(ctx, api, sw, res); err != nil {
		return nil, plan.Errorf("%w", err)
	}
	if t.Check {
		hideRotated(res, flags, ca)
	}
	return res, nil
}

// fixedSettingChanges are the differences in settings a swarm gets at
// creation and keeps.
func fixedSettingChanges(p Params, cur swarm.Swarm) changes {
	var fixed changes
	if p.Has("default_addr_pool") && !slices.Equal(p.Strings("default_addr_pool"), cur.DefaultAddrPool) {
		fixed.add("default_addr_pool", cur.DefaultAddrPool, p.Strings("default_addr_pool"))
	}
	if p.Has("subnet_size") && uint32(p.Int("subnet_size")) != cur.SubnetSize {
		fixed.add("subnet_size", cur.SubnetSize, p.Int("subnet_size"))
	}
	if p.Has("data_path_port") && uint32(p.Int("data_path_port")) != cur.DataPathPort {
		fixed.add("data_path_port", cur.DataPathPort, p.Int("data_path_port"))
	}
	return fixed
}

// swarmSettingChanges sets in spec the changeable settings that differ and
// plans each as a change; the SwarmUpdate that applies them is made by the
// plan's first change (updateSwarm).
func swarmSettingChanges(p Params, spec *swarm.Spec, certExpiry time.Duration, plan *Plan) {
	set := func(field string, before, after any) {
		plan.Add("set "+field+" to "+show(after), fmt.Sprintf("%s: %s -> %s\n", field, show(before), show(after)), nil)
	}
	if p.Has("cert_expiry") && spec.CAConfig.NodeCertExpiry != certExpiry {
		set("cert_expiry", spec.CAConfig.NodeCertExpiry, certExpiry)
		spec.CAConfig.NodeCertExpiry = certExpiry
	}
	if p.Has("task_history_limit") {
		l := p.Int("task_history_limit")
		if spec.Orchestration.TaskHistoryRetentionLimit == nil || *spec.Orchestration.TaskHistoryRetentionLimit != l {
			var old any
			if spec.Orchestration.TaskHistoryRetentionLimit != nil {
				old = *spec.Orchestration.TaskHistoryRetentionLimit
			}
			set("task_history_limit", old, l)
			spec.Orchestration.TaskHistoryRetentionLimit = &l
		}
	}
	if p.Has("autolock") && spec.EncryptionConfig.AutoLockManagers != p.Bool("autolock") {
		set("autolock", spec.EncryptionConfig.AutoLockManagers, p.Bool("autolock"))
		spec.EncryptionConfig.AutoLockManagers = p.Bool("autolock")
	}
}

// liveSwarmOutputs fills the outputs from the swarm this host now manages.
func liveSwarmOutputs(ctx context.Context, api client.APIClient, res *Result) error {
	info, err := api.Info(ctx)
	if err != nil {
		return err
	}
	return swarmInitOutputs(ctx, api, info.Swarm, res)
}

// swarmInitOutputs fills the outputs from the live swarm.
func swarmInitOutputs(ctx context.Context, api client.APIClient, sw swarm.Info, res *Result) error {
	cur, err := api.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	addr := ""
	for _, m := range sw.RemoteManagers {
		if m.NodeID == sw.NodeID {
			addr = m.Addr
		}
	}
	if addr == "" && sw.NodeAddr != "" {
		addr = net.JoinHostPort(sw.NodeAddr, "2377")
	}
	res.Outputs = map[string]any{
		"node_id":       sw.NodeID,
		"cluster_id":    cur.ID,
		"addr":          addr,
		"worker_token":  cur.JoinTokens.Worker,
		"manager_token": cur.JoinTokens.Manager,
	}
	if cur.Spec.EncryptionConfig.AutoLockManagers {
		if k, err := api.SwarmGetUnlockKey(ctx); err == nil {
			res.Outputs["unlock_key"] = k.UnlockKey
		}
	}
	return nil
}

func peerAddrs(peers []swarm.Peer) string {
	var a []string
	for _, p := range peers {
		a = append(a, p.Addr)
	}
	if len(a) == 0 {
		return "unknown"
	}
	return strings.Join(a, ", ")
}
