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
	info, err := api.Info(ctx)
	if err != nil {
		return nil, err
	}
	var certExpiry time.Duration
	if p.Has("cert_expiry") {
		if certExpiry, err = time.ParseDuration(p.String("cert_expiry")); err != nil {
			return nil, fmt.Errorf("cert_expiry: %w", err)
		}
	}
	sw := info.Swarm
	if p.Bool("force_new_cluster") {
		if res, done, err := forceNewCluster(ctx, t, p, api, sw); done || err != nil {
			return res, err
		}
	}
	switch sw.LocalNodeState {
	case swarm.LocalNodeStateInactive:
		return initSwarm(ctx, t, p, api, certExpiry)
	case swarm.LocalNodeStateActive:
		if !sw.ControlAvailable {
			return nil, fmt.Errorf("host is already a worker of swarm (managers %s); swarm_init needs a host outside any swarm or a manager", peerAddrs(sw.RemoteManagers))
		}
		return updateSwarm(ctx, t, p, api, sw, certExpiry)
	case swarm.LocalNodeStateLocked:
		return nil, fmt.Errorf("host's swarm is locked: unlock it with `docker swarm unlock` first")
	default:
		return nil, fmt.Errorf("host is in swarm state %q (%s); leave it (`docker swarm leave --force`) or let swarm_join repair it", sw.LocalNodeState, sw.Error)
	}
}

// initSwarm creates a swarm on a host outside any.
func initSwarm(ctx context.Context, t *Target, p Params, api client.APIClient, certExpiry time.Duration) (*Result, error) {
	advertise := p.String("advertise_addr")
	if advertise == "" {
		advertise = t.Address
	}
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
	res := &Result{Changed: true, Msg: "swarm initialised, advertising " + advertise}
	if t.Diff {
		res.Diff = fmt.Sprintf("swarm: inactive -> manager of a new swarm (advertise %s, listen %s)\n", advertise, req.ListenAddr)
	}
	if t.Check {
		res.Msg = "would initialise a swarm advertising " + advertise
		return res, nil
	}
	if _, err := api.SwarmInit(ctx, req); err != nil {
		return nil, fmt.Errorf("swarm init: %w", err)
	}
	info, err := api.Info(ctx)
	if err != nil {
		return nil, err
	}
	return res, swarmInitOutputs(ctx, api, info.Swarm, res)
}

// updateSwarm brings an existing swarm's settings to the wanted ones; the
// settings fixed at creation can only be compared.
func updateSwarm(ctx context.Context, t *Target, p Params, api client.APIClient, sw swarm.Info, certExpiry time.Duration) (*Result, error) {
	cur, err := api.SwarmInspect(ctx)
	if err != nil {
		return nil, err
	}
	if fixed := fixedSettingChanges(p, cur); len(fixed) > 0 {
		return &Result{Diff: fixed.String()}, fmt.Errorf("swarm exists with settings that are fixed at creation and differ:\n%s", fixed.String())
	}
	spec := cur.Spec
	ch := swarmSettingChanges(p, &spec, certExpiry)
	flags, caNote, err := swarmRotations(p, cur, &spec, &ch)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if len(ch) == 0 {
		res.Msg = "already a manager of swarm " + cur.ID
		return res, swarmInitOutputs(ctx, api, sw, res)
	}
	res.Changed = true
	res.Msg = "swarm settings updated: " + strings.Join(ch, "; ")
	if t.Diff {
		res.Diff = ch.String()
	}
	if t.Check {
		res.Msg = "would update swarm settings: " + strings.Join(ch, "; ")
		// The swarm exists, so its tokens are known even in check mode,
		// unless this step would replace them.
		err := swarmInitOutputs(ctx, api, sw, res)
		hideRotated(res, flags, caNote != "")
		return res, err
	}
	if err := api.SwarmUpdate(ctx, cur.Version, spec, flags); err != nil {
		return nil, fmt.Errorf("swarm update: %w", err)
	}
	if caNote != "" {
		if err := waitCARotation(ctx, api, cur.TLSInfo.TrustRoot); err != nil {
			return nil, err
		}
	}
	return res, swarmInitOutputs(ctx, api, sw, res)
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
// lists them.
func swarmSettingChanges(p Params, spec *swarm.Spec, certExpiry time.Duration) changes {
	var ch changes
	if p.Has("cert_expiry") && spec.CAConfig.NodeCertExpiry != certExpiry {
		ch.add("cert_expiry", spec.CAConfig.NodeCertExpiry, certExpiry)
		spec.CAConfig.NodeCertExpiry = certExpiry
	}
	if p.Has("task_history_limit") {
		l := p.Int("task_history_limit")
		if spec.Orchestration.TaskHistoryRetentionLimit == nil || *spec.Orchestration.TaskHistoryRetentionLimit != l {
			var old any
			if spec.Orchestration.TaskHistoryRetentionLimit != nil {
				old = *spec.Orchestration.TaskHistoryRetentionLimit
			}
			ch.add("task_history_limit", old, l)
			spec.Orchestration.TaskHistoryRetentionLimit = &l
		}
	}
	if p.Has("autolock") && spec.EncryptionConfig.AutoLockManagers != p.Bool("autolock") {
		ch.add("autolock", spec.EncryptionConfig.AutoLockManagers, p.Bool("autolock"))
		spec.EncryptionConfig.AutoLockManagers = p.Bool("autolock")
	}
	return ch
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
