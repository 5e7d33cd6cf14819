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

// swarmRotations reads rotate_tokens and ca_rotate_within: the update
// flags, and a note when the CA is due (spec then forces a rotation).
func swarmRotations(p Params, cur swarm.Swarm, spec *swarm.Spec) (swarm.UpdateFlags, string, error) {
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
