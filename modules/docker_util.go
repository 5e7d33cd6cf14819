package modules

// Helpers shared by the Docker/Swarm modules (swarm_init, swarm_join, node,
// node_label, network, secret, config, stack, image). The modules talk to
// the host's engine through client.APIClient rather than *client.Client so
// that unit tests can hand them an in-memory fake, as docker/cli's own tests do.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

// hashLabel carries the sha256 of a secret's or config's data: the engine
// never returns secret data, so this label is how a second run knows the
// stored value is already the desired one.
const hashLabel = "com.swarmrun.hash"

// dockerAPI returns the host's Docker Engine API client.
func dockerAPI(ctx context.Context, t *Target) (client.APIClient, error) {
	if t.Docker == nil {
		return nil, errors.New("no Docker Engine API connection for this host")
	}
	c, err := t.Docker(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	return c, nil
}

// withDocker adapts a module body that takes an API client to Module.Run.
// Under --check, a host whose engine does not answer (Docker not installed
// yet: an earlier step would install it, the normal state of a fresh host)
// is planned against absentEngine, so the module predicts its change
// instead of failing.
func withDocker(run func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error)) func(context.Context, *Target, Params) (*Result, error) {
	return func(ctx context.Context, t *Target, p Params) (*Result, error) {
		api, err := dockerAPI(ctx, t)
		if err != nil {
			return nil, err
		}
		if t.Check {
			if _, perr := api.Ping(ctx); perr != nil {
				api = absentEngine{api}
			}
		}
		return run(ctx, t, p, api)
	}
}

// withManager is withDocker for a module that must run on a swarm manager:
// run gets managerAPI's client (under --check on a host not in a swarm yet,
// an emptySwarm); its errors carry the module's name.
func withManager(module string, run func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error)) func(context.Context, *Target, Params) (*Result, error) {
	return withDocker(func(ctx context.Context, t *Target, p Params, api client.APIClient) (*Result, error) {
		mapi, _, err := managerAPI(ctx, t, api)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", module, err)
		}
		return run(ctx, t, p, mapi)
	})
}

// absentEngine answers as a just-installed engine would: outside any swarm,
// no images, no networks. Every other call reaches the real client and
// fails with its connection error.
type absentEngine struct{ client.APIClient }

func (absentEngine) Info(context.Context) (system.Info, error) {
	return system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}}, nil
}
func (absentEngine) ImageInspect(_ context.Context, id string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, errdefs.ErrNotFound.WithMessage("no such image: " + id)
}
func (absentEngine) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	return nil, nil
}

// requireManager fails unless the host is an active swarm manager: node,
// network, secret, config and stack operations only work there, and the
// engine's own error for a worker is obscure ("This node is not a swarm
// manager..." only for some calls; network create silently goes local).
func requireManager(ctx context.Context, api client.APIClient) error {
	info, err := api.Info(ctx)
	if err != nil {
		return err
	}
	if info.Swarm.LocalNodeState != swarm.LocalNodeStateActive {
		return fmt.Errorf("host is not part of an active swarm (state %q); run swarm_init/swarm_join first", info.Swarm.LocalNodeState)
	}
	if !info.Swarm.ControlAvailable {
		return errors.New("host is a swarm worker; run this step on a manager")
	}
	return nil
}

// managerAPI returns the client to plan against on a host that must be a
// swarm manager. Under --check a host not yet in a swarm is accepted (an
// earlier step, swarm_init, would create it): the returned client then
// shows an empty swarm, so the module predicts creating everything.
func managerAPI(ctx context.Context, t *Target, api client.APIClient) (client.APIClient, bool, error) {
	err := requireManager(ctx, api)
	if err == nil {
		return api, false, nil
	}
	if t.Check {
		if info, ierr := api.Info(ctx); ierr == nil && info.Swarm.LocalNodeState == swarm.LocalNodeStateInactive {
			return emptySwarm{api}, true, nil
		}
	}
	return nil, false, err
}

// emptySwarm answers swarm queries as a manager of a new, empty swarm would.
type emptySwarm struct{ client.APIClient }

func (emptySwarm) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	return nil, nil
}
func (emptySwarm) NodeInspectWithRaw(_ context.Context, id string) (swarm.Node, []byte, error) {
	return swarm.Node{}, nil, errdefs.ErrNotFound.WithMessage("node " + id + " not found")
}
func (emptySwarm) ServiceList(context.Context, swarm.ServiceListOptions) ([]swarm.Service, error) {
	return nil, nil
}
func (emptySwarm) SecretList(context.Context, swarm.SecretListOptions) ([]swarm.Secret, error) {
	return nil, nil
}
func (emptySwarm) ConfigList(context.Context, swarm.ConfigListOptions) ([]swarm.Config, error) {
	return nil, nil
}
func (emptySwarm) SecretInspectWithRaw(_ context.Context, id string) (swarm.Secret, []byte, error) {
	return swarm.Secret{}, nil, errdefs.ErrNotFound.WithMessage("secret " + id + " not found")
}
func (emptySwarm) ConfigInspectWithRaw(_ context.Context, id string) (swarm.Config, []byte, error) {
	return swarm.Config{}, nil, errdefs.ErrNotFound.WithMessage("config " + id + " not found")
}
func (e emptySwarm) NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error) {
	l, err := e.APIClient.NetworkList(ctx, o)
	var out []network.Summary
	for _, n := range l {
		if n.Scope != "swarm" {
			out = append(out, n)
		}
	}
	return out, err
}

// sha256Hex is the content hash stored in hashLabel.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readSrc reads a controller-side file named by a playbook: relative paths
// are relative to the playbook's directory.
func readSrc(t *Target, path string) ([]byte, error) {
	return os.ReadFile(srcPath(t, path))
}

func srcPath(t *Target, path string) string {
	if filepath.IsAbs(path) || t.Dir == "" {
		return path
	}
	return filepath.Join(t.Dir, path)
}

// waitBudget is how long a module may wait for the engine to converge: the
// step's common `timeout` argument (which the runtime turns into the context
// deadline) when given, else def.
func waitBudget(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl) - time.Second; d > 0 {
			return d
		}
		return time.Second
	}
	return def
}

// stringMap converts a dict parameter to string values.
func stringMap(m map[string]any) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// changes collects field-level differences for messages and diffs.
type changes []string

func (c *changes) add(field string, before, after any) {
	*c = append(*c, fmt.Sprintf("%s: %s -> %s", field, show(before), show(after)))
}

func (c *changes) note(format string, args ...any) { *c = append(*c, fmt.Sprintf(format, args...)) }

func (c changes) String() string {
	if len(c) == 0 {
		return ""
	}
	return strings.Join(c, "\n") + "\n"
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return `""`
		}
		return strconv.Quote(x)
	case time.Duration:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// labelChanges reports how labels would go from cur to want. With exclusive,
// keys absent from want are removed; otherwise they are left alone. It
// returns the resulting label set.
func labelChanges(c *changes, prefix string, cur, want map[string]string, exclusive bool) map[string]string {
	out := map[string]string{}
	for k, v := range cur {
		out[k] = v
	}
	for _, k := range sortedKeys(want) {
		if old, ok := cur[k]; !ok {
			c.note("%s+ %s=%s", prefix, k, want[k])
		} else if old != want[k] {
			c.note("%s~ %s: %s -> %s", prefix, k, old, want[k])
		}
		out[k] = want[k]
	}
	if exclusive {
		for _, k := range sortedKeys(cur) {
			if _, ok := want[k]; !ok {
				c.note("%s- %s=%s", prefix, k, cur[k])
				delete(out, k)
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// waitUntil polls cond every interval until it reports done, fails, the
// timeout passes or ctx ends. The last non-nil detail explains a timeout.
func waitUntil(ctx context.Context, timeout, interval time.Duration, cond func() (done bool, detail string, err error)) error {
	deadline := time.Now().Add(timeout)
	detail := ""
	for {
		done, d, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if d != "" {
			detail = d
		}
		if time.Now().After(deadline) {
			if detail != "" {
				return fmt.Errorf("timed out after %s: %s", timeout, detail)
			}
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			if detail != "" {
				return fmt.Errorf("%w: %s", ctx.Err(), detail)
			}
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// findNode resolves a node given by ID, hostname, node name or ID prefix.
// Names are matched from the node list rather than by NodeInspect, which
// answers "ambiguous" when a host left and joined again: its old node stays
// behind, down, under the same hostname, and the live one is meant.
// nodeAppearWait bounds findJoinedNode's wait (tests shorten it).
var nodeAppearWait = 20 * time.Second

// findJoinedNode is findNode that, outside check mode, gives a node a few
// seconds to appear: a node that just joined through a worker is active
// on its side before every manager lists it (seen on a loaded lab).
func findJoinedNode(ctx context.Context, t *Target, api client.APIClient, ref string) (swarm.Node, error) {
	deadline := time.Now().Add(nodeAppearWait)
	for {
		n, err := findNode(ctx, api, ref)
		if err == nil || t.Check || !errdefs.IsNotFound(err) || time.Now().After(deadline) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func findNode(ctx context.Context, api client.APIClient, ref string) (swarm.Node, error) {
	nodes, err := api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return swarm.Node{}, err
	}
	var found []swarm.Node
	for _, n := range nodes {
		if n.ID == ref {
			return n, nil
		}
		if n.Description.Hostname == ref || n.Spec.Name == ref {
			found = append(found, n)
		}
	}
	if len(found) > 1 {
		var live []swarm.Node
		for _, n := range found {
			if n.Status.State != swarm.NodeStateDown {
				live = append(live, n)
			}
		}
		if len(live) > 0 {
			found = live
		}
	}
	if len(found) > 1 {
		// Right after a re-join the old node is not marked down yet; if
		// all candidates are the same address, the newest one is live.
		same := true
		newest := found[0]
		for _, n := range found[1:] {
			same = same && n.Status.Addr == found[0].Status.Addr
			if n.CreatedAt.After(newest.CreatedAt) {
				newest = n
			}
		}
		if same {
			found = []swarm.Node{newest}
		}
	}
	switch len(found) {
	case 0:
		n, _, err := api.NodeInspectWithRaw(ctx, ref) // an ID prefix
		if err != nil {
			if errdefs.IsNotFound(err) {
				return swarm.Node{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("node %q not found in the swarm", ref))
			}
			return swarm.Node{}, err
		}
		return n, nil
	case 1:
		return found[0], nil
	}
	return swarm.Node{}, fmt.Errorf("node %q is ambiguous: %d live nodes have that hostname", ref, len(found))
}

// servicesUsing names the services whose tasks reference a secret, config or
// network ID (match reports it for one service spec).
func servicesUsing(ctx context.Context, api client.APIClient, match func(swarm.ServiceSpec) bool) ([]string, error) {
	svcs, err := api.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range svcs {
		if match(s.Spec) {
			names = append(names, s.Spec.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

func nameFilter(name string) filters.Args { return filters.NewArgs(filters.Arg("name", name)) }

func labelFilter(label string) filters.Args { return filters.NewArgs(filters.Arg("label", label)) }
