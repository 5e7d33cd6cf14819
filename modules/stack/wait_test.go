package stack

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

// A replica that can never be scheduled: the wait names the scheduler's
// reason first (not an earlier task's failure) and gives up after
// unschedulableAfter instead of the whole wait budget.
func TestStackWaitNamesBlocker(t *testing.T) {
	two := uint64(2)
	tmpl := swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "web:1"}}
	svc := swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web_web"},
		TaskTemplate: tmpl, Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}}}
	t0 := time.Now()
	tasks := []swarm.Task{
		{ID: "a", ServiceID: "s1", Slot: 1, Spec: tmpl, DesiredState: swarm.TaskStateRunning,
			Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: t0}},
		{ID: "b", ServiceID: "s1", Slot: 2, Spec: tmpl, DesiredState: swarm.TaskStateRunning,
			Status: swarm.TaskStatus{State: swarm.TaskStatePending, Err: "no suitable node (max replicas per node limit exceed; scheduling constraints not satisfied on 1 node)", Timestamp: t0}},
		{ID: "c", ServiceID: "s1", Slot: 2, Spec: tmpl, DesiredState: swarm.TaskStateShutdown,
			Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)", Timestamp: t0.Add(-time.Minute)}},
	}
	w := &taskWatch{seen: map[string]time.Time{}, stuckAfter: 30 * time.Second}
	ok, why, err := w.converged(svc, tasks, t0)
	if ok || err != nil {
		t.Fatalf("first look: ok %v err %v", ok, err)
	}
	if want := "web_web: 1/2 running (task web_web.2 pending: no suitable node (max replicas per node limit exceed"; !strings.HasPrefix(why, want) {
		t.Errorf("reason %q, want prefix %q", why, want)
	}
	if !strings.Contains(why, "last failure: task web_web.2 failed: task: non-zero exit (1)") {
		t.Errorf("reason %q lacks the last failure", why)
	}
	if _, _, err := w.converged(svc, tasks, t0.Add(29*time.Second)); err != nil {
		t.Errorf("gave up too early: %v", err)
	}
	_, _, err = w.converged(svc, tasks, t0.Add(31*time.Second))
	if err == nil || !strings.Contains(err.Error(), "service web_web cannot be scheduled: task web_web.2 pending: no suitable node") {
		t.Errorf("after 31s: %v", err)
	}
	// Scheduled after all: the clock starts again.
	tasks[1].Status = swarm.TaskStatus{State: swarm.TaskStateRunning}
	if ok, _, err := w.converged(svc, tasks, t0.Add(40*time.Second)); !ok || err != nil {
		t.Errorf("running: ok %v err %v", ok, err)
	}
}
