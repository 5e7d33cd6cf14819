package runtime

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// fakeSwarmEngines serves a tiny Docker API per host: h1's engine is down,
// h2 is a follower, h3 the leader, h4 a worker. It returns the Dial option
// whose connections reach them.
func fakeSwarmEngines(t *testing.T) func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error) {
	nodes := []swarm.Node{
		{ID: "n1", Description: swarm.NodeDescription{Hostname: "h1"}, ManagerStatus: &swarm.ManagerStatus{Addr: "10.0.0.1:2377", Reachability: swarm.ReachabilityUnreachable}},
		{ID: "n2", Description: swarm.NodeDescription{Hostname: "h2"}, ManagerStatus: &swarm.ManagerStatus{Addr: "10.0.0.2:2377", Reachability: swarm.ReachabilityReachable}},
		{ID: "n3", Description: swarm.NodeDescription{Hostname: "other-name"}, ManagerStatus: &swarm.ManagerStatus{Leader: true, Addr: "10.0.0.3:2377", Reachability: swarm.ReachabilityReachable}},
		{ID: "n4", Description: swarm.NodeDescription{Hostname: "h4"}, Status: swarm.NodeStatus{Addr: "10.0.0.4", State: swarm.NodeStateReady}},
	}
	servers := map[string]*httptest.Server{}
	for _, h := range []string{"h2", "h3", "h4"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Api-Version", "1.41")
			switch {
			case strings.HasSuffix(r.URL.Path, "/_ping"):
				w.Write([]byte("OK"))
			case strings.HasSuffix(r.URL.Path, "/info"):
				var info system.Info
				info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
				info.Swarm.ControlAvailable = h != "h4"
				json.NewEncoder(w).Encode(info)
			case strings.HasSuffix(r.URL.Path, "/nodes"):
				json.NewEncoder(w).Encode(nodes)
			default:
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		servers[h] = srv
	}
	return func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error) {
		c := &fakeConn{name: name}
		if srv, ok := servers[name]; ok {
			api, err := client.NewClientWithOpts(client.WithHost(srv.URL), client.WithAPIVersionNegotiation())
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { api.Close() })
			c.docker = api
		}
		return c, nil
	}
}

func TestSwarmStatus(t *testing.T) {
	o := Options{Dial: fakeSwarmEngines(t)}
	r := play(t, context.Background(), `
st = swarm_status(hosts("all"))
if st.manager.name != "h3" or st.leader.name != "h3":
    fail("manager", st.manager, "leader", st.leader)
if st.ready.names != ["h2", "h3"] or st.down.names != ["h1", "h4"]:
    fail("ready", st.ready, "down", st.down)
if "cannot connect" not in st.reasons["h1"] or st.reasons["h4"] != "not a manager":
    fail("reasons", st.reasons)
if swarm_status(hosts("h2"), hosts = hosts("all")).members.names != ["h1", "h2", "h3", "h4"]:
    fail("members", swarm_status(hosts("h2"), hosts = hosts("all")).members)
# Without the leader the first healthy manager answers.
st = swarm_status(hosts("all") - hosts("h3"))
if st.manager.name != "h2" or st.leader != None:
    fail("without h3: manager", st.manager, "leader", st.leader)
none = swarm_status(hosts("h1"))
if none.manager != None or len(none.ready) != 0:
    fail("h1 alone", none.manager)
`, o, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.recap) != 0 {
		t.Errorf("swarm_status must not count in the recap: %v", r.recap)
	}
}

// check_mode = True on one step: it reports what would change and the
// module sees Check; other steps run for real.
func TestStepCheckMode(t *testing.T) {
	r := play(t, context.Background(), `
plan = t_set(hosts("all"), name = "plan", same = ["h2"], check_mode = True)
if plan.changed.names != ["h1", "h3", "h4"]:
    fail("plan", plan.changed)
real = t_set(plan.changed, name = "apply")
if type(real["h1"].token) != "string":
    fail("the real step has outputs")
if type(plan["h1"].token) != "unknown":
    fail("the planned step's output is unknown")
`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
}
