package modules

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "swarm_join",
		Doc: `Join the host to a swarm as a worker or manager, as the token says.

A host already in the swarm the token belongs to is left alone. Membership is
checked by comparing the token's root-CA digest with the digest of the
swarm's root CA certificate on the host (on managers from the engine, on
workers from /var/lib/docker/swarm/certificates/swarm-root-ca.crt), falling
back to the manager address among the host's known managers. A host in
another swarm fails the step unless force = True, which makes it leave that
swarm first. A host stuck "pending" or "error" after an earlier join that
timed out is made to leave (forcibly) and join again. After joining the step
waits until the node is active: up to the step's timeout argument, 90s
when none is given.

A manager given a worker token fails the step (joining would not demote it:
use the node module's role). A worker given a manager token cannot be told
apart from one given a worker token without asking a manager, so it counts
as joined.

    init = swarm_init(hosts("managers")[0])
    swarm_join(hosts("workers"), manager = init.addr, token = init.worker_token)`,
		Params: []Param{
			{Name: "manager", Type: String, Required: true, Doc: "address of a manager of the swarm, host:port (port default 2377)"},
			{Name: "token", Type: String, Required: true, Sensitive: true, Doc: "the swarm's worker or manager join token"},
			{Name: "advertise_addr", Type: String, Doc: "address other nodes reach this node at; default: the host's inventory address"},
			{Name: "listen_addr", Type: String, Default: "0.0.0.0:2377", Doc: "address for cluster management traffic (used if the node becomes a manager)"},
			{Name: "force", Type: Bool, Default: false, Doc: "leave another swarm the host belongs to, then join"},
		},
		Outputs: map[string]string{
			"node_id": "the node's ID in the swarm",
			"role":    "manager or worker",
		},
		Run: withDocker(runSwarmJoin),
	})
}

// joinToken is a parsed swarm join token:
// SWMTKN-1-<root CA sha256 in base 36, 50 chars>-<secret, 25 chars>
// (or SWMTKN-2-<fips 0|1>-... ), after swarmkit's ca.ParseJoinToken.
type joinToken struct {
	RootDigest string // hex sha256 of the cluster's root CA certificate (PEM)
	FIPS       bool
}

var errBadToken = errors.New("token is not a swarm join token (SWMTKN-...)")

func parseJoinToken(tok string) (joinToken, error) {
	parts := strings.Split(strings.TrimSpace(tok), "-")
	if len(parts) < 4 || parts[0] != "SWMTKN" {
		return joinToken{}, errBadToken
	}
	var jt joinToken
	switch parts[1] {
	case "1":
		if len(parts) != 4 {
			return joinToken{}, errBadToken
		}
	case "2":
		if len(parts) != 5 || (parts[2] != "0" && parts[2] != "1") {
			return joinToken{}, errBadToken
		}
		jt.FIPS = parts[2] == "1"
	default:
		return joinToken{}, errBadToken
	}
	dg, secret := parts[len(parts)-2], parts[len(parts)-1]
	if len(dg) != 50 || len(secret) != 25 {
		return joinToken{}, errBadToken
	}
	var n big.Int
	if _, ok := n.SetString(dg, 36); !ok {
		return joinToken{}, errBadToken
	}
	jt.RootDigest = fmt.Sprintf("%064s", n.Text(16))
	return jt, nil
}

// rootCADigest is how swarmkit derives a token's digest from the CA PEM.
func rootCADigest(pem []byte) string {
	s := sha256.Sum256(pem)
	return fmt.Sprintf("%x", s[:])
}

const workerRootCA = "/var/lib/docker/swarm/certificates/swarm-root-ca.crt"

func runSwarmJoin(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	plan := NewPlan("swarm_join", "")
	tok, err := parseJoinToken(p.String("token"))
	if err != nil {
		return nil, plan.Errorf("%w", err)
	}
	manager := p.String("manager")
	if _, _, err := net.SplitHostPort(manager); err != nil {
		manager = net.JoinHostPort(manager, "2377")
	}
	advertise := p.String("advertise_addr")
	if advertise == "" {
		advertise = t.Address
	}
	sw, err := swarmState(ctx, plan, api)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	leave, member, err := joinFrom(ctx, t, p, api, sw, tok, manager, plan, res)
	if err != nil {
		return nil, err
	}
	if member {
		return plan.Apply(ctx, t, res)
	}
	if leave != "" {
		plan.Add(leave, "", func(ctx context.Context) error { return api.SwarmLeave(ctx, true) })
	}
	diff := fmt.Sprintf("swarm: %s -> member of the swarm at %s (advertise %s)\n", sw.LocalNodeState, manager, advertise)
	req := swarm.JoinRequest{ListenAddr: p.String("listen_addr"), AdvertiseAddr: advertise, RemoteAddrs: []string{manager}, JoinToken: p.String("token")}
	plan.Add("join swarm via "+manager, diff, func(ctx context.Context) error {
		sw, err := joinSwarm(ctx, api, req, waitBudget(ctx, 90*time.Second))
		if err != nil {
			return err
		}
		// Which token it was (worker or manager) shows only now.
		role := nodeRole(sw)
		plan.Note("joined as " + role)
		res.Outputs = map[string]any{"node_id": sw.NodeID, "role": role}
		return nil
	})
	return plan.Apply(ctx, t, res)
}

// nodeRole is what the node is in its swarm.
func nodeRole(sw swarm.Info) string {
	if sw.ControlAvailable {
		return "manager"
	}
	return "worker"
}

// joinFrom reads the host's swarm state before a join: member says the
// host is in the token's swarm already (the plan's Unchanged message and
// res's outputs are then set); leave is the change that takes the host out
// of its swarm first, if it must; an error says why it cannot join.
func joinFrom(ctx context.Context, t *Target, p Params, api client.APIClient, sw swarm.Info, tok joinToken, manager string, plan *Plan, res *Result) (leave string, member bool, err error) {
	switch sw.LocalNodeState {
	case swarm.LocalNodeStateInactive:
		return "", false, nil
	case swarm.LocalNodeStatePending, swarm.LocalNodeStateError:
		// An earlier join that timed out goes on in the background and can
		// leave the node stuck; only leaving lets it join again.
		leave = fmt.Sprintf("leave swarm (stuck %s", sw.LocalNodeState)
		if sw.Error != "" {
			leave += ": " + sw.Error
		}
		return leave + ")", false, nil
	case swarm.LocalNodeStateLocked:
		return "", false, plan.Errorf("host's swarm is locked: unlock it first (docker swarm unlock)")
	case swarm.LocalNodeStateActive:
	default:
		return "", false, plan.Errorf("unexpected swarm state %q", sw.LocalNodeState)
	}
	same, how := sameSwarm(ctx, t, api, sw, tok, manager)
	if !same && !p.Bool("force") {
		return "", false, plan.Errorf("host already belongs to another swarm (%s; managers %s); set force = True to leave it and join %s", how, peerAddrs(sw.RemoteManagers), manager)
	}
	if !same {
		return "leave swarm of managers " + peerAddrs(sw.RemoteManagers), false, nil
	}
	if sw.ControlAvailable {
		if cur, err := api.SwarmInspect(ctx); err == nil && p.String("token") == cur.JoinTokens.Worker {
			return "", false, plan.Errorf("host is already a manager of this swarm but was given the worker token; joining would not demote it (use the node module's role = \"worker\")")
		}
	}
	plan.Unchanged = "already a " + nodeRole(sw) + " of this swarm (" + how + ")"
	res.Outputs = map[string]any{"node_id": sw.NodeID, "role": nodeRole(sw)}
	return "", true, nil
}

// joinSwarm joins and waits until the node is active. The engine gives up
// waiting after a while yet goes on joining in the background ("Timeout
// was reached before node joined"): the state is polled instead of
// trusting that error.
func joinSwarm(ctx context.Context, api client.APIClient, req swarm.JoinRequest, timeout time.Duration) (swarm.Info, error) {
	var sw swarm.Info
	joinErr := api.SwarmJoin(ctx, req)
	if joinErr != nil && !strings.Contains(joinErr.Error(), "Timeout was reached") {
		return sw, redactErr(joinErr, req.JoinToken)
	}
	err := waitUntil(ctx, timeout, time.Second, func() (bool, string, error) {
		info, err := api.Info(ctx)
		if err != nil {
			return false, "", err
		}
		sw = info.Swarm
		switch sw.LocalNodeState {
		case swarm.LocalNodeStateActive:
			return true, "", nil
		case swarm.LocalNodeStateError:
			return false, "", fmt.Errorf("join failed: %s", redactToken(sw.Error, req.JoinToken))
		}
		return false, fmt.Sprintf("node state %q %s", sw.LocalNodeState, sw.Error), nil
	})
	if err != nil {
		return sw, fmt.Errorf("%w (a later run leaves and joins again)", err)
	}
	return sw, nil
}

// sameSwarm decides whether the host's active swarm is the one the token
// (and manager address) belong to, and says how it decided.
func sameSwarm(ctx context.Context, t *Target, api client.APIClient, sw swarm.Info, tok joinToken, manager string) (bool, string) {
	var pem []byte
	if sw.Cluster != nil && sw.Cluster.TLSInfo.TrustRoot != "" {
		pem = []byte(sw.Cluster.TLSInfo.TrustRoot)
	} else if t.Conn != nil {
		// Workers do not see the cluster object; their copy of the root CA is
		// on disk.
		pem, _ = t.Conn.ReadFile(ctx, workerRootCA, t.Become)
	}
	if len(pem) > 0 {
		if rootCADigest(pem) == tok.RootDigest {
			return true, "root CA matches the token"
		}
		// Managers' TrustRoot may differ from the PEM the digest was taken
		// of by a trailing newline; accept either form.
		trimmed := strings.TrimRight(string(pem), "\n")
		if rootCADigest([]byte(trimmed)) == tok.RootDigest || rootCADigest([]byte(trimmed+"\n")) == tok.RootDigest {
			return true, "root CA matches the token"
		}
		return false, "its root CA differs from the token's"
	}
	host, _, _ := net.SplitHostPort(manager)
	for _, m := range sw.RemoteManagers {
		if h, _, _ := net.SplitHostPort(m.Addr); m.Addr == manager || h == host {
			return true, "manager " + manager + " is among its managers"
		}
	}
	return false, manager + " is not among its managers"
}

// redactToken keeps a join token out of error messages.
func redactToken(s, tok string) string {
	if tok == "" {
		return s
	}
	return strings.ReplaceAll(s, tok, "<token>")
}

// redactErr keeps a secret out of an error; an error that does not hold it
// is kept as it is (errors.Is still sees what it wraps).
func redactErr(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(redactToken(err.Error(), secret))
}
