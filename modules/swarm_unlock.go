package modules

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

func init() {
	Register(&Module{
		Name: "swarm_unlock",
		Doc: `Unlock a manager of an autolocked swarm after Docker restarted on it.

With autolock on (swarm_init autolock = True) a manager whose Docker
restarts keeps its raft keys encrypted until it is given the unlock key;
until then it is no working manager. A host that is not locked is left
alone. The key is sensitive: give it from the controller's environment or a
file, never from the inventory; it is masked in all output.

    swarm_unlock(hosts("managers"), key = env("SWARM_UNLOCK_KEY"))`,
		Params: []Param{
			{Name: "key", Type: String, Required: true, Sensitive: true, Doc: "the swarm's unlock key (SWMKEY-1-...)"},
		},
		Run: withDocker(runSwarmUnlock),
	})
}

func runSwarmUnlock(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
	info, err := api.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateLocked {
		return &Result{Msg: fmt.Sprintf("not locked (swarm state %q)", info.Swarm.LocalNodeState)}, nil
	}
	res := &Result{Changed: true, Msg: "unlocked"}
	if t.Diff {
		res.Diff = "swarm: locked -> active\n"
	}
	if t.Check {
		res.Msg = "would unlock"
		return res, nil
	}
	if err := api.SwarmUnlock(ctx, swarm.UnlockRequest{UnlockKey: p.String("key")}); err != nil {
		return nil, fmt.Errorf("swarm unlock: %w", err)
	}
	err = waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
		info, err := api.Info(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return info.Swarm.LocalNodeState == swarm.LocalNodeStateActive, fmt.Sprintf("swarm state %q", info.Swarm.LocalNodeState), nil
	})
	if err != nil {
		return nil, fmt.Errorf("after unlocking: %w", err)
	}
	return res, nil
}
