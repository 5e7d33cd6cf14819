package modules

import (
	"context"
	"errors"
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

// unlockAnswerWait bounds waiting for the engine's answer to an unlock.
var unlockAnswerWait = 20 * time.Second

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
	// The engine answers the unlock only once the node is back in its
	// cluster; a manager restored from a backup (its old peers gone) is
	// unlocked but never gets there: that answer is not waited for.
	uctx, cancel := context.WithTimeout(ctx, unlockAnswerWait)
	err = api.SwarmUnlock(uctx, swarm.UnlockRequest{UnlockKey: p.String("key")})
	unanswered := errors.Is(uctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil && !unanswered {
		return nil, fmt.Errorf("swarm unlock: %w", err)
	}
	state := ""
	err = waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
		info, err := api.Info(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		state = string(info.Swarm.LocalNodeState)
		return info.Swarm.LocalNodeState != swarm.LocalNodeStateLocked, "still locked", nil
	})
	if err != nil {
		return nil, fmt.Errorf("after unlocking: %w", err)
	}
	if state != string(swarm.LocalNodeStateActive) {
		res.Msg = fmt.Sprintf("unlocked (swarm state %s)", state)
	}
	return res, nil
}
