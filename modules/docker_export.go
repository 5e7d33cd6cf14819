package modules

// The Docker helpers (docker_util.go) that module families living in
// sub-packages (modules/stack) need, exported as thin wrappers so that
// the helpers themselves stay in one place, unexported for this package.

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// HashLabel carries the sha256 of a secret's or config's data (hashLabel).
const HashLabel = hashLabel

// WithDocker adapts a module body that takes an API client to Module.Run
// (withDocker).
func WithDocker(run func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error)) func(context.Context, *Target, Params) (*Result, error) {
	return withDocker(run)
}

// ManagerAPI returns the client to plan against on a host that must be a
// swarm manager (managerAPI).
func ManagerAPI(ctx context.Context, t *Target, api client.APIClient) (client.APIClient, error) {
	api, _, err := managerAPI(ctx, t, api)
	return api, err
}

// WaitUntil polls cond every interval until it is done, fails or timeout
// passes (waitUntil).
func WaitUntil(ctx context.Context, timeout, interval time.Duration, cond func() (done bool, detail string, err error)) error {
	return waitUntil(ctx, timeout, interval, cond)
}

// WaitBudget is the step's timeout when given, else def (waitBudget).
func WaitBudget(ctx context.Context, def time.Duration) time.Duration { return waitBudget(ctx, def) }

// StringMap converts a dict parameter to string values (stringMap).
func StringMap(m map[string]any) map[string]string { return stringMap(m) }

// LabelFilter filters on one label, "key" or "key=value" (labelFilter).
func LabelFilter(label string) filters.Args { return labelFilter(label) }

// SHA256Hex is the hex sha256 of b (sha256Hex).
func SHA256Hex(b []byte) string { return sha256Hex(b) }

// LabelChanges lists how labels would go from cur to want, each line
// starting with prefix (labelChanges).
func LabelChanges(prefix string, cur, want map[string]string, exclusive bool) []string {
	var c changes
	labelChanges(&c, prefix, cur, want, exclusive)
	return c
}
