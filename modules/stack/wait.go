package stack

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/modules"
)

// waitStack waits until every service of the stack has converged.
func waitStack(ctx context.Context, api client.APIClient, name string, timeout time.Duration) error {
	w := &taskWatch{seen: map[string]time.Time{}, stuckAfter: unschedulableAfter}
	return modules.WaitUntil(ctx, timeout, 2*time.Second, func() (bool, string, error) {
		svcs, err := api.ServiceList(ctx, swarm.ServiceListOptions{Filters: modules.LabelFilter(convert.LabelNamespace + "=" + name)})
		if err != nil {
			return false, "", err
		}
		if len(svcs) == 0 {
			return true, "", nil
		}
		args := filters.NewArgs()
		for _, s := range svcs {
			args.Add("service", s.ID)
		}
		tasks, err := api.TaskList(ctx, swarm.TaskListOptions{Filters: args})
		if err != nil {
			return false, "", err
		}
		var pending []string
		var failed []error
		for _, s := range svcs {
			ok, why, err := w.converged(s, tasks, time.Now())
			if err != nil {
				failed = append(failed, err)
			} else if !ok {
				pending = append(pending, why)
			}
		}
		if len(failed) > 0 {
			return false, "", errors.Join(failed...)
		}
		return len(pending) == 0, strings.Join(pending, "; "), nil
	})
}

// unschedulableAfter is how long a task may stay pending for want of a
// suitable node before the wait gives up: the scheduler retries, but a node
// that fits rarely appears by itself within a run.
var unschedulableAfter = 30 * time.Second

// taskWatch remembers when each task was first seen unschedulable, by the
// controller's clock (the engine's may differ).
type taskWatch struct {
	seen       map[string]time.Time
	stuckAfter time.Duration
}

// converged reports whether a service runs as its spec says. The reason it
// gives names the current blockers first (tasks that should run and do not,
// with the scheduler's word for why), then the latest failure. An error
// means its rollout failed, or a task cannot be scheduled.
func (w *taskWatch) converged(s swarm.Service, tasks []swarm.Task, now time.Time) (bool, string, error) {
	var running, desired int
	var blockers []string
	var lastFail *swarm.Task
	// Right after an update the old tasks still run and the engine may not
	// have set UpdateStatus yet: only tasks made from the current spec (the
	// orchestrator copies the service's task template into each task)
	// count as converged.
	current := normaliseSpec(swarm.ServiceSpec{TaskTemplate: s.Spec.TaskTemplate}, nil)
	for i, t := range tasks {
		if t.ServiceID != s.ID {
			continue
		}
		if t.DesiredState == swarm.TaskStateRunning {
			desired++
			if t.Status.State == swarm.TaskStateRunning && reflect.DeepEqual(normaliseSpec(swarm.ServiceSpec{TaskTemplate: t.Spec}, nil), current) {
				running++
			} else if t.Status.State != swarm.TaskStateRunning {
				blockers = append(blockers, taskState(s, t))
				if err := w.stuck(s, t, now); err != nil {
					return false, "", err
				}
			}
		}
		if (t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected) && t.Status.Err != "" &&
			(lastFail == nil || t.Status.Timestamp.After(lastFail.Status.Timestamp)) {
			lastFail = &tasks[i]
		}
	}
	if lastFail != nil {
		blockers = append(blockers, "last failure: "+taskState(s, *lastFail))
	}
	detail := ""
	if len(blockers) > 0 {
		detail = " (" + strings.Join(blockers, "; ") + ")"
	}
	if us := s.UpdateStatus; us != nil {
		switch us.State {
		case swarm.UpdateStatePaused, swarm.UpdateStateRollbackCompleted, swarm.UpdateStateRollbackPaused:
			return false, "", fmt.Errorf("service %s rollout %s: %s%s", s.Spec.Name, us.State, us.Message, detail)
		case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
			return false, fmt.Sprintf("%s: update %s%s", s.Spec.Name, us.State, detail), nil
		}
	}
	switch {
	case s.Spec.Mode.Replicated != nil:
		want := 1
		if s.Spec.Mode.Replicated.Replicas != nil {
			want = int(*s.Spec.Mode.Replicated.Replicas)
		}
		if running != want || desired != want {
			return false, fmt.Sprintf("%s: %d/%d running%s", s.Spec.Name, running, want, detail), nil
		}
	case s.Spec.Mode.Global != nil:
		if desired == 0 || running != desired {
			return false, fmt.Sprintf("%s: %d/%d running%s", s.Spec.Name, running, desired, detail), nil
		}
	}
	return true, "", nil
}

// taskState is "task web_web.2 pending: no suitable node (...)".
func taskState(s swarm.Service, t swarm.Task) string {
	why := string(t.Status.State)
	switch {
	case t.Status.Err != "":
		why += ": " + t.Status.Err
	case t.Status.Message != "" && t.Status.Message != string(t.Status.State):
		why += " (" + t.Status.Message + ")"
	}
	return fmt.Sprintf("task %s.%d %s", s.Spec.Name, t.Slot, why)
}

// stuck fails a task that has been pending without a suitable node for
// longer than stuckAfter.
func (w *taskWatch) stuck(s swarm.Service, t swarm.Task, now time.Time) error {
	if t.Status.State != swarm.TaskStatePending || !strings.Contains(t.Status.Err, "no suitable node") {
		delete(w.seen, t.ID)
		return nil
	}
	first, ok := w.seen[t.ID]
	if !ok {
		w.seen[t.ID] = now
		return nil
	}
	if now.Sub(first) < w.stuckAfter {
		return nil
	}
	return fmt.Errorf("service %s cannot be scheduled: %s, for %s; no node fits the service's placement (constraints, max_replicas_per_node, resources): lower its replicas or add nodes",
		s.Spec.Name, taskState(s, t), now.Sub(first).Round(time.Second))
}
