package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	// t_lost: the connection to h2 breaks under the step.
	testModules.Register(&modules.Module{Name: "t_lost", Doc: "test",
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			if t.Name == "h2" {
				return nil, fmt.Errorf("reading /etc/x: %w", connection.ErrConnectionLost)
			}
			return &modules.Result{}, nil
		}})
}

// A dropped connection is UNREACHABLE (as in Ansible), not FAILED: the
// exit code and the recap say the host was lost, not that the step broke.
func TestDroppedConnectionIsUnreachable(t *testing.T) {
	r := play(t, context.Background(), `t_lost(hosts("all"))`, Options{}, nil)
	if got := r.results("unreachable"); len(got) != 1 || !strings.HasSuffix(got[0], "/h2") {
		t.Fatalf("unreachable %v; events %v", got, r.events)
	}
	if c := r.recap["h2"]; c.Unreachable != 1 || c.Failed != 0 {
		t.Fatalf("recap %+v", c)
	}
}
