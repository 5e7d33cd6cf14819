package modules

// Join-token and root CA rotation for swarm_init on an existing swarm.

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// swarmRotations reads rotate_tokens, rotate_ca and ca_rotate_within: the
// update flags, and a note when the CA rotates (spec then forces it); the
// changes are noted in ch.
func swarmRotations(p Params, cur swarm.Swarm, spec *swarm.Spec, ch *changes) (swarm.UpdateFlags, string, error) {
	flags, note, err := swarmRotationsOf(p, cur, spec)
	if flags.RotateWorkerToken {
		ch.note("worker join token: rotate")
	}
	if flags.RotateManagerToken {
		ch.note("manager join token: rotate")
	}
	if note != "" {
		ch.note("%s", note)
	}
	return flags, note, err
}

// hideRotated drops, under --check, the join tokens the step would replace:
// their new values are not known yet.
func hideRotated(res *Result, flags swarm.UpdateFlags, ca bool) {
	if flags.RotateWorkerToken || ca {
		delete(res.Outputs, "worker_token")
	}
	if flags.RotateManagerToken || ca {
		delete(res.Outputs, "manager_token")
	}
}

func swarmRotationsOf(p Params, cur swarm.Swarm, spec *swarm.Spec) (swarm.UpdateFlags, string, error) {
	var flags swarm.UpdateFlags
	for _, k := range p.Strings("rotate_tokens") {
		switch k {
		case "worker":
			flags.RotateWorkerToken = true
		case "manager":
			flags.RotateManagerToken = true
		default:
			return flags, "", fmt.Errorf("rotate_tokens: %q is not \"worker\" or \"manager\"", k)
		}
	}
	if p.Bool("rotate_ca") {
		spec.CAConfig.ForceRotate++
		return flags, "root CA: rotate", nil
	}
	if !p.Has("ca_rotate_within") {
		return flags, "", nil
	}
	within, err := time.ParseDuration(p.String("ca_rotate_within"))
	if err != nil {
		return flags, "", fmt.Errorf("ca_rotate_within: %w", err)
	}
	notAfter, err := caNotAfter(cur.TLSInfo.TrustRoot)
	if err != nil {
		return flags, "", err
	}
	if left := time.Until(notAfter); left >= within {
		return flags, "", nil
	}
	spec.CAConfig.ForceRotate++
	return flags, fmt.Sprintf("root CA expires %s (within %s): rotate", notAfter.UTC().Format(time.RFC3339), within), nil
}

// caNotAfter is the expiry of the swarm's root CA certificate.
func caNotAfter(trustRoot string) (time.Time, error) {
	b, _ := pem.Decode([]byte(trustRoot))
	if b == nil {
		return time.Time{}, errors.New("the swarm's root CA certificate is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return time.Time{}, fmt.Errorf("the swarm's root CA certificate: %w", err)
	}
	return c.NotAfter, nil
}

// waitCARotation waits until the swarm trusts a new root and every node has
// moved to it (swarmkit reports the rotation in progress until then).
func waitCARotation(ctx context.Context, api client.APIClient, oldRoot string) error {
	err := waitUntil(ctx, waitBudget(ctx, 5*time.Minute), time.Second, func() (bool, string, error) {
		cur, err := api.SwarmInspect(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		if cur.TLSInfo.TrustRoot == oldRoot || cur.RootRotationInProgress {
			return false, "root CA rotation in progress", nil
		}
		return true, "", nil
	})
	if err != nil {
		return fmt.Errorf("CA rotation: %w", err)
	}
	return nil
}

// forceNewCluster re-initialises a manager whose swarm has no leader (lost
// quorum, or state restored from a backup) as the one manager of a new
// cluster with its state. done is false when there is nothing to force
// (no swarm state, or a working control plane): the normal path goes on.
func forceNewCluster(ctx context.Context, t *Target, p Params, api client.APIClient, sw swarm.Info) (*Result, bool, error) {
	switch sw.LocalNodeState {
	case swarm.LocalNodeStateInactive, swarm.LocalNodeStateLocked:
		return nil, false, nil
	}
	if sw.LocalNodeState == swarm.LocalNodeStateActive && !sw.ControlAvailable {
		return nil, false, nil // a worker: the normal path explains
	}
	if _, err := api.NodeList(ctx, swarm.NodeListOptions{}); err == nil {
		return nil, false, nil
	}
	advertise := p.String("advertise_addr")
	if advertise == "" {
		advertise = t.Address
	}
	res := &Result{Changed: true, Msg: "forced a new cluster from this manager's state, advertising " + advertise}
	if t.Diff {
		res.Diff = fmt.Sprintf("swarm: %s manager without a leader -> the one manager of a new cluster\n", sw.LocalNodeState)
	}
	if t.Check {
		res.Msg = "would force a new cluster from this manager's state, advertising " + advertise
		return res, true, nil
	}
	req := swarm.InitRequest{ListenAddr: p.String("listen_addr"), AdvertiseAddr: advertise, ForceNewCluster: true}
	if _, err := api.SwarmInit(ctx, req); err != nil {
		return nil, true, fmt.Errorf("swarm init --force-new-cluster: %w", err)
	}
	err := waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
		_, err := api.NodeList(ctx, swarm.NodeListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		return nil, true, fmt.Errorf("after --force-new-cluster: %w", err)
	}
	info, err := api.Info(ctx)
	if err != nil {
		return nil, true, err
	}
	return res, true, swarmInitOutputs(ctx, api, info.Swarm, res)
}
