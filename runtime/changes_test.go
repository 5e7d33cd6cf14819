package runtime

import (
	"context"
	"fmt"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
)

func init() {
	// t_changes reports one change that names its secret parameter.
	testModules.Register(&modules.Module{Name: "t_changes", Doc: "test",
		Params: []modules.Param{{Name: "secret", Type: modules.String, Sensitive: true}},
		Run: func(ctx context.Context, t *modules.Target, p modules.Params) (*modules.Result, error) {
			return &modules.Result{Changed: true, Msg: "set it", Changes: []string{"set it", "use " + p.String("secret")}}, nil
		}})
}

// The JSON result events carry the module's change list (cmd/swarmrun/e2e
// compares --check's with the real run's), masked like the message.
func TestResultEventChanges(t *testing.T) {
	r := play(t, context.Background(), `t_changes(hosts("h1"), secret = "hunter22")`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got []string
	for _, ev := range r.events {
		if ev["event"] == "result" {
			got = append(got, fmt.Sprint(ev["changes"]))
		}
	}
	if want := "[set it use " + Mask + "]"; len(got) != 1 || got[0] != want {
		t.Errorf("changes %q, want %q", got, want)
	}
}
