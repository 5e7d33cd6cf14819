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
	plan := NewPlan("swarm_unlock", "")
	sw, err := swarmState(ctx, plan, api)
	if err != nil {
		return nil, err
	}
	if sw.LocalNodeState != swarm.LocalNodeStateLocked {
		plan.Unchanged = fmt.Sprintf("not locked (swarm state %q)", sw.LocalNodeState)
		return plan.Apply(ctx, t, nil)
	}
	key := p.String("key")
	plan.Add("unlock swarm", "swarm: locked -> active\n", func(ctx context.Context) error {
		state, err := unlockSwarm(ctx, api, key)
		if err != nil {
			return redactErr(err, key)
		}
		if state != swarm.LocalNodeStateActive {
			plan.Note(fmt.Sprintf("swarm state %s", state))
		}
		return nil
	})
	return plan.Apply(ctx, t, nil)
}

// unlockSwarm unlocks the node and waits until it is no longer locked; it
// returns the state it reached. The engine answers the unlock only once the
// node is back in its cluster; a manager restored from a backup (its old
// peers gone) is unlocked but never gets there: that answer is not waited
// for.
func unlockSwarm(ctx context.Context, api client.APIClient, key string) (swarm.LocalNodeState, error) {
	uctx, cancel := context.WithTimeout(ctx, unlockAnswerWait)
	err := api.SwarmUnlock(uctx, swarm.UnlockRequest{UnlockKey: key})
	unanswered := errors.Is(uctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil && !unanswered {
		return "", err
	}
	var state swarm.LocalNodeState
	err = waitUntil(ctx, waitBudget(ctx, time.Minute), time.Second, func() (bool, string, error) {
		info, err := api.Info(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		state = info.Swarm.LocalNodeState
		return state != swarm.LocalNodeStateLocked, "still locked", nil
	})
	return state, err
}
