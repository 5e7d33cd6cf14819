package modules

// The Docker modules' tests run against the in-memory engine of
// modules/internal/fakeengine (shared with modules/stack's tests).

import "github.com/swarmrun/swarmrun/modules/internal/fakeengine"

type fakeEngine = fakeengine.Engine

const fakeCA = fakeengine.CA

var (
	newFakeManager  = fakeengine.NewManager
	newFakeInactive = fakeengine.NewInactive
	fakeToken       = fakeengine.Token
)

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
