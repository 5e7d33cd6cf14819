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

// swarmRotations reads rotate_tokens, rotate_ca and ca_rotate_within and
// plans them: the update flags, and whether the CA rotates (spec then
// forces it; the change waits until the nodes have moved to the new CA).
func swarmRotations(api client.APIClient, p Params, cur swarm.Swarm, spec *swarm.Spec, plan *Plan) (swarm.UpdateFlags, bool, error) {
	flags, why, err := swarmRotationsOf(p, cur, spec)
	if err != nil {
		return flags, false, plan.Errorf("%w", err)
	}
	if flags.RotateWorkerToken {
		plan.Add("rotate worker join token", "worker join token: rotate\n", nil)
	}
	if flags.RotateManagerToken {
		plan.Add("rotate manager join token", "manager join token: rotate\n", nil)
	}
	if why == nil {
		return flags, false, nil
	}
	what, diff := "rotate root CA", "root CA: rotate\n"
	if why.within > 0 {
		expires := why.notAfter.UTC().Format(time.RFC3339)
		what = fmt.Sprintf("rotate root CA (expires %s, within %s)", expires, why.within)
		diff = fmt.Sprintf("root CA expires %s (within %s): rotate\n", expires, why.within)
	}
	plan.Add(what, diff, func(ctx context.Context) error {
		return waitCARotation(ctx, api, cur.TLSInfo.TrustRoot)
	})
	return flags, true, nil
}

// caRotation says why the root CA rotates: asked to (within 0), or it
// expires at notAfter, within the given duration.
type caRotation struct {
	notAfter time.Time
	within   time.Duration
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

func swarmRotationsOf(p Params, cur swarm.Swarm, spec *swarm.Spec) (swarm.UpdateFlags, *caRotation, error) {
	var flags swarm.UpdateFlags
	for _, k := range p.Strings("rotate_tokens") {
		switch k {
		case "worker":
			flags.RotateWorkerToken = true
		case "manager":
			flags.RotateManagerToken = true
		default:
			return flags, nil, fmt.Errorf("rotate_tokens: %q is not \"worker\" or \"manager\"", k)
		}
	}
	if p.Bool("rotate_ca") {
		spec.CAConfig.ForceRotate++
		return flags, &caRotation{}, nil
	}
	if !p.Has("ca_rotate_within") {
		return flags, nil, nil
	}
	within, err := time.ParseDuration(p.String("ca_rotate_within"))
	if err != nil {
		return flags, nil, fmt.Errorf("ca_rotate_within: %w", err)
	}
	notAfter, err := caNotAfter(cur.TLSInfo.TrustRoot)
	if err != nil {
		return flags, nil, err
	}
	if left := time.Until(notAfter); left >= within {
		return flags, nil, nil
	}
	spec.CAConfig.ForceRotate++
	return flags, &caRotation{notAfter: notAfter, within: within}, nil
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

// forceNewCluster plans re-initialising a manager whose swarm has no
// leader (lost quorum, or state restored from a backup) as the one manager
// of a new cluster with its state, and says whether it did. There is
// nothing to force on a host without swarm state or with a working control
// plane: the normal path goes on.
func forceNewCluster(ctx context.Context, t *Target, p Params, api client.APIClient, sw swarm.Info, plan *Plan, res *Result) bool {
	switch sw.LocalNodeState {
	case swarm.LocalNodeStateInactive, swarm.LocalNodeStateLocked:
		return false
	}
	if sw.LocalNodeState == swarm.LocalNodeStateActive && !sw.ControlAvailable {
		return false // a worker: the normal path explains
	}
	if _, err := api.NodeList(ctx, swarm.NodeListOptions{}); err == nil {
		return false
	}
	advertise := swarmAdvertise(t, p)
	req := swarm.InitRequest{ListenAddr: p.String("listen_addr"), AdvertiseAddr: advertise, ForceNewCluster: true}
	diff := fmt.Sprintf("swarm: %s manager without a leader -> the one manager of a new cluster\n", sw.LocalNodeState)
	plan.Add("force a new cluster from this manager's state (advertise "+advertise+")", diff, func(ctx context.Context) error {
		if _, err := api.SwarmInit(ctx, req); err != nil {
			return err
		}
		err := waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
			_, err := api.NodeList(ctx, swarm.NodeListOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			return true, "", nil
		})
		if err != nil {
			return fmt.Errorf("after --force-new-cluster: %w", err)
		}
		return liveSwarmOutputs(ctx, api, res)
	})
	return true
}
