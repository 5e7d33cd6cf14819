package modules

// fakeEngine is an in-memory Docker engine in swarm mode for the swarm
// modules' unit tests, in the style of docker/cli's fake API clients: it
// embeds client.APIClient (calling anything not implemented panics) and
// implements what the modules use. Like the real engine it normalises
// service specs on write (runtime "container", {} labels, restart and update
// defaults, network names to IDs, replicas 1, endpoint mode vip) and bumps
// versions, so idempotence tests meet the same read-back differences as on
// a real swarm.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

type fakeEngine struct {
	client.APIClient
	mu       sync.Mutex
	info     system.Info
	sw       swarm.Swarm
	nodes    map[string]*swarm.Node
	networks map[string]*network.Inspect
	secrets  map[string]*swarm.Secret
	configs  map[string]*swarm.Config
	services map[string]*swarm.Service
	// swarmNets are networks known in swarm scope by an ID of their own
	// (the predefined bridge and host), absent from the network list.
	swarmNets map[string]string                // ID -> name
	images    map[string]image.InspectResponse // by ID and by tag
	loaded    [][]byte
	calls     []string // mutating calls, in order
	noLeader  bool     // the managers have no leader: node listing fails
	busyNodes int      // node updates that find the node changed meanwhile
	seq       int
}

const fakeCA = "-----BEGIN CERTIFICATE-----\nfake root\n-----END CERTIFICATE-----\n"

// newFakeManager returns an engine that is the only manager of a swarm.
func newFakeManager() *fakeEngine {
	f := newFakeInactive()
	f.initSwarm("198.18.0.11")
	return f
}

func newFakeInactive() *fakeEngine {
	f := &fakeEngine{
		nodes: map[string]*swarm.Node{}, networks: map[string]*network.Inspect{},
		secrets: map[string]*swarm.Secret{}, configs: map[string]*swarm.Config{},
		services: map[string]*swarm.Service{}, images: map[string]image.InspectResponse{},
	}
	f.info.Swarm.LocalNodeState = swarm.LocalNodeStateInactive
	return f
}

func (f *fakeEngine) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%04d", prefix, f.seq)
}

func (f *fakeEngine) call(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeEngine) initSwarm(addr string) {
	nodeID := "node0001"
	f.info.Swarm = swarm.Info{
		NodeID: nodeID, NodeAddr: addr, LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true,
		RemoteManagers: []swarm.Peer{{NodeID: nodeID, Addr: addr + ":2377"}},
	}
	f.sw = swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "cluster1", TLSInfo: swarm.TLSInfo{TrustRoot: fakeCA}, DataPathPort: 4789, SubnetSize: 24, DefaultAddrPool: []string{"10.0.0.0/8"}}}
	f.sw.Version.Index = 1
	f.sw.Spec.CAConfig.NodeCertExpiry = 2160 * time.Hour
	f.sw.JoinTokens = swarm.JoinTokens{Worker: fakeToken(fakeCA, "w"), Manager: fakeToken(fakeCA, "m")}
	ci := f.sw.ClusterInfo
	f.info.Swarm.Cluster = &ci
	f.nodes[nodeID] = &swarm.Node{ID: nodeID, Meta: swarm.Meta{Version: swarm.Version{Index: 1}},
		Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
		Description:   swarm.NodeDescription{Hostname: "lab-h1"},
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: addr},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: addr + ":2377"}}
	f.networks["ingressid"] = &network.Inspect{ID: "ingressid", Name: "ingress", Driver: "overlay", Scope: "swarm", Ingress: true}
}

type bigInt = big.Int

// fakeToken builds a join token for a CA the way swarmkit does.
func fakeToken(ca, secret string) string {
	var n = new(bigInt)
	n.SetString(rootCADigest([]byte(ca)), 16)
	return fmt.Sprintf("SWMTKN-1-%050s-%025s", n.Text(36), secret)
}

func (f *fakeEngine) ClientVersion() string { return "1.41" }

// Ping answers: withDocker pings under --check to tell an absent engine.
func (f *fakeEngine) Ping(context.Context) (types.Ping, error) {
	return types.Ping{APIVersion: "1.41"}, nil
}

func (f *fakeEngine) Info(context.Context) (system.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info, nil
}

func (f *fakeEngine) SwarmInit(_ context.Context, req swarm.InitRequest) (string, error) {
	f.call("SwarmInit %s force=%v", req.AdvertiseAddr, req.ForceNewCluster)
	f.noLeader = false
	f.initSwarm(req.AdvertiseAddr)
	f.sw.Spec.CAConfig.NodeCertExpiry = req.Spec.CAConfig.NodeCertExpiry
	f.sw.Spec.EncryptionConfig.AutoLockManagers = req.AutoLockManagers
	return "node0001", nil
}

func (f *fakeEngine) SwarmInspect(context.Context) (swarm.Swarm, error) {
	if !f.info.Swarm.ControlAvailable {
		return swarm.Swarm{}, errdefs.ErrUnavailable.WithMessage("This node is not a swarm manager")
	}
	return f.sw, nil
}

func (f *fakeEngine) SwarmUpdate(_ context.Context, v swarm.Version, spec swarm.Spec, flags swarm.UpdateFlags) error {
	f.call("SwarmUpdate")
	if v.Index != f.sw.Version.Index {
		return fmt.Errorf("update out of sequence")
	}
	f.seq++
	if spec.CAConfig.ForceRotate != f.sw.Spec.CAConfig.ForceRotate {
		f.sw.TLSInfo.TrustRoot = fmt.Sprintf("%s-rotated-%d", fakeCA, f.seq)
		flags.RotateWorkerToken, flags.RotateManagerToken = true, true
	}
	if flags.RotateWorkerToken {
		f.sw.JoinTokens.Worker = fakeToken(f.sw.TLSInfo.TrustRoot, fmt.Sprintf("w%d", f.seq))
	}
	if flags.RotateManagerToken {
		f.sw.JoinTokens.Manager = fakeToken(f.sw.TLSInfo.TrustRoot, fmt.Sprintf("m%d", f.seq))
	}
	f.sw.Spec = spec
	f.sw.Version.Index++
	return nil
}

func (f *fakeEngine) SwarmUnlock(_ context.Context, req swarm.UnlockRequest) error {
	f.call("SwarmUnlock")
	if req.UnlockKey != "SWMKEY-1-fake" {
		return errdefs.ErrInvalidArgument.WithMessage("invalid key")
	}
	f.info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
	return nil
}

func (f *fakeEngine) SwarmGetUnlockKey(context.Context) (swarm.UnlockKeyResponse, error) {
	return swarm.UnlockKeyResponse{UnlockKey: "SWMKEY-1-fake"}, nil
}

// joinAs is what the next SwarmJoin makes of the node.
func (f *fakeEngine) SwarmJoin(_ context.Context, req swarm.JoinRequest) error {
	f.call("SwarmJoin %s", strings.Join(req.RemoteAddrs, ","))
	if f.info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
		return fmt.Errorf("This node is already part of a swarm")
	}
	f.info.Swarm = swarm.Info{NodeID: "node0009", NodeAddr: req.AdvertiseAddr, LocalNodeState: swarm.LocalNodeStateActive,
		RemoteManagers: []swarm.Peer{{NodeID: "node0001", Addr: req.RemoteAddrs[0]}}}
	return nil
}

func (f *fakeEngine) SwarmLeave(_ context.Context, force bool) error {
	f.call("SwarmLeave force=%v", force)
	f.info.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	return nil
}

func (f *fakeEngine) NodeRemove(_ context.Context, id string, _ swarm.NodeRemoveOptions) error {
	f.call("NodeRemove %s", f.nodes[id].Description.Hostname)
	delete(f.nodes, id)
	return nil
}

func (f *fakeEngine) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	if f.noLeader {
		return nil, errdefs.ErrUnavailable.WithMessage("rpc error: The swarm does not have a leader")
	}
	var out []swarm.Node
	for _, n := range f.nodes {
		out = append(out, *n)
	}
	return out, nil
}

func (f *fakeEngine) NodeInspectWithRaw(_ context.Context, id string) (swarm.Node, []byte, error) {
	if n, ok := f.nodes[id]; ok {
		return *n, nil, nil
	}
	return swarm.Node{}, nil, errdefs.ErrNotFound.WithMessage("node " + id + " not found")
}

func (f *fakeEngine) NodeUpdate(_ context.Context, id string, v swarm.Version, spec swarm.NodeSpec) error {
	f.call("NodeUpdate %s", id)
	n := f.nodes[id]
	if f.busyNodes > 0 { // the agent (or a role change) updated it just now
		f.busyNodes--
		n.Version.Index++
	}
	if n.Version.Index != v.Index {
		return fmt.Errorf("update out of sequence")
	}
	n.Spec = spec
	n.Version.Index++
	return nil
}

func (f *fakeEngine) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	var out []network.Summary
	for _, n := range f.networks {
		if names := o.Filters.Get("name"); len(names) > 0 && !strings.Contains(n.Name, names[0]) {
			continue
		}
		if !fakeLabelsMatch(o.Filters.Get("label"), n.Labels) {
			continue
		}
		out = append(out, *n)
	}
	return out, nil
}

func (f *fakeEngine) NetworkInspect(_ context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	if name, ok := f.swarmNets[id]; ok && o.Scope == "swarm" {
		return network.Inspect{ID: id, Name: name, Scope: "swarm"}, nil
	}
	for _, n := range f.networks {
		if n.ID == id || n.Name == id {
			return *n, nil
		}
	}
	return network.Inspect{}, errdefs.ErrNotFound.WithMessage("network " + id + " not found")
}

func (f *fakeEngine) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	f.call("NetworkCreate %s", name)
	id := f.id("net")
	opts := map[string]string{}
	for k, v := range o.Options {
		opts[k] = v
	}
	if o.Driver == "overlay" {
		opts["com.docker.network.driver.overlay.vxlanid_list"] = "4097"
	}
	ipam := network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: "10.0.1.0/24", Gateway: "10.0.1.1"}}}
	if o.IPAM != nil {
		ipam.Config = o.IPAM.Config
	}
	labels := o.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	f.networks[id] = &network.Inspect{ID: id, Name: name, Driver: o.Driver, Scope: o.Scope, Attachable: o.Attachable, Internal: o.Internal, Options: opts, Labels: labels, IPAM: ipam}
	if f.networks[id].Scope == "" {
		f.networks[id].Scope = "swarm"
	}
	return network.CreateResponse{ID: id}, nil
}

func (f *fakeEngine) NetworkRemove(_ context.Context, id string) error {
	f.call("NetworkRemove %s", f.networks[id].Name)
	delete(f.networks, id)
	return nil
}

func (f *fakeEngine) SecretList(_ context.Context, o swarm.SecretListOptions) ([]swarm.Secret, error) {
	var out []swarm.Secret
	for _, s := range f.secrets {
		if names := o.Filters.Get("name"); len(names) > 0 && !contains(names, s.Spec.Name) {
			continue
		}
		if !fakeLabelsMatch(o.Filters.Get("label"), s.Spec.Labels) {
			continue
		}
		c := *s
		c.Spec.Data = nil // the engine never returns secret data
		out = append(out, c)
	}
	return out, nil
}

// fakeLabelsMatch applies "key=value" / "key" label filters.
func fakeLabelsMatch(filter []string, labels map[string]string) bool {
	for _, l := range filter {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func (f *fakeEngine) SecretInspectWithRaw(_ context.Context, name string) (swarm.Secret, []byte, error) {
	for _, s := range f.secrets {
		if s.ID == name || s.Spec.Name == name {
			c := *s
			c.Spec.Data = nil
			return c, nil, nil
		}
	}
	return swarm.Secret{}, nil, errdefs.ErrNotFound.WithMessage("secret " + name + " not found")
}

func (f *fakeEngine) SecretCreate(_ context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	f.call("SecretCreate %s", spec.Name)
	for _, s := range f.secrets {
		if s.Spec.Name == spec.Name {
			return swarm.SecretCreateResponse{}, errdefs.ErrConflict.WithMessage("secret " + spec.Name + " already exists")
		}
	}
	id := f.id("sec")
	f.secrets[id] = &swarm.Secret{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	return swarm.SecretCreateResponse{ID: id}, nil
}

func (f *fakeEngine) SecretUpdate(_ context.Context, id string, v swarm.Version, spec swarm.SecretSpec) error {
	f.call("SecretUpdate %s", spec.Name)
	s := f.secrets[id]
	if spec.Data != nil && !bytes.Equal(spec.Data, s.Spec.Data) {
		return fmt.Errorf("only updates to Labels are allowed")
	}
	s.Spec.Labels = spec.Labels
	s.Version.Index++
	return nil
}

func (f *fakeEngine) SecretRemove(_ context.Context, id string) error {
	f.call("SecretRemove %s", f.secrets[id].Spec.Name)
	delete(f.secrets, id)
	return nil
}

func (f *fakeEngine) ConfigList(_ context.Context, o swarm.ConfigListOptions) ([]swarm.Config, error) {
	var out []swarm.Config
	for _, c := range f.configs {
		if names := o.Filters.Get("name"); len(names) > 0 && !contains(names, c.Spec.Name) {
			continue
		}
		if !fakeLabelsMatch(o.Filters.Get("label"), c.Spec.Labels) {
			continue
		}
		out = append(out, *c)
	}
	return out, nil
}

func (f *fakeEngine) ConfigInspectWithRaw(_ context.Context, name string) (swarm.Config, []byte, error) {
	for _, c := range f.configs {
		if c.ID == name || c.Spec.Name == name {
			return *c, nil, nil
		}
	}
	return swarm.Config{}, nil, errdefs.ErrNotFound.WithMessage("config " + name + " not found")
}

func (f *fakeEngine) ConfigCreate(_ context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	f.call("ConfigCreate %s", spec.Name)
	id := f.id("cfg")
	f.configs[id] = &swarm.Config{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	return swarm.ConfigCreateResponse{ID: id}, nil
}

func (f *fakeEngine) ConfigUpdate(_ context.Context, id string, _ swarm.Version, spec swarm.ConfigSpec) error {
	f.call("ConfigUpdate %s", spec.Name)
	f.configs[id].Spec.Labels = spec.Labels
	return nil
}

func (f *fakeEngine) ConfigRemove(_ context.Context, id string) error {
	f.call("ConfigRemove %s", f.configs[id].Spec.Name)
	delete(f.configs, id)
	return nil
}

// engineSpec is what the engine stores and returns for a service spec.
func (f *fakeEngine) engineSpec(in swarm.ServiceSpec) swarm.ServiceSpec {
	var s swarm.ServiceSpec
	b, _ := json.Marshal(in)
	_ = json.Unmarshal(b, &s)
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.TaskTemplate.Runtime = swarm.RuntimeContainer
	if cs := s.TaskTemplate.ContainerSpec; cs != nil {
		cs.Isolation = container.IsolationDefault
		if cs.Labels == nil {
			cs.Labels = map[string]string{}
		}
		cs.Privileges = nil
	}
	if s.TaskTemplate.RestartPolicy == nil {
		d := 5 * time.Second
		s.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &d}
	}
	if s.TaskTemplate.RestartPolicy.MaxAttempts == nil {
		var zero uint64
		s.TaskTemplate.RestartPolicy.MaxAttempts = &zero
	}
	if s.UpdateConfig != nil && s.UpdateConfig.FailureAction == "" {
		s.UpdateConfig.FailureAction = swarm.UpdateFailureActionPause
	}
	if s.UpdateConfig != nil && s.UpdateConfig.Order == "" {
		s.UpdateConfig.Order = swarm.UpdateOrderStopFirst
	}
	if s.Mode.Replicated != nil && s.Mode.Replicated.Replicas == nil {
		one := uint64(1)
		s.Mode.Replicated.Replicas = &one
	}
	if s.EndpointSpec == nil {
		s.EndpointSpec = &swarm.EndpointSpec{}
	}
	if s.EndpointSpec.Mode == "" {
		s.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	if len(s.EndpointSpec.Ports) == 0 {
		s.EndpointSpec.Ports = nil
	}
	for i, n := range s.TaskTemplate.Networks {
		swarmID := ""
		for id, name := range f.swarmNets {
			if name == n.Target {
				swarmID = id
			}
		}
		if swarmID != "" {
			s.TaskTemplate.Networks[i].Target = swarmID
			continue
		}
		for _, nw := range f.networks {
			if nw.Name == n.Target {
				s.TaskTemplate.Networks[i].Target = nw.ID
			}
		}
	}
	return s
}

func (f *fakeEngine) ServiceCreate(_ context.Context, spec swarm.ServiceSpec, _ swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	f.call("ServiceCreate %s", spec.Name)
	if err := f.checkRefs(spec); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	id := f.id("svc")
	f.services[id] = &swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 10}}, Spec: f.engineSpec(spec)}
	return swarm.ServiceCreateResponse{ID: id}, nil
}

// checkRefs fails like the engine for references to missing objects.
func (f *fakeEngine) checkRefs(spec swarm.ServiceSpec) error {
	for _, s := range spec.TaskTemplate.ContainerSpec.Secrets {
		if _, ok := f.secrets[s.SecretID]; !ok {
			return fmt.Errorf("secret not found: %s", s.SecretID)
		}
	}
	for _, c := range spec.TaskTemplate.ContainerSpec.Configs {
		if _, ok := f.configs[c.ConfigID]; !ok {
			return fmt.Errorf("config not found: %s", c.ConfigID)
		}
	}
	return nil
}

func (f *fakeEngine) ServiceUpdate(_ context.Context, id string, v swarm.Version, spec swarm.ServiceSpec, _ swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	f.call("ServiceUpdate %s", spec.Name)
	s := f.services[id]
	if s.Version.Index != v.Index {
		return swarm.ServiceUpdateResponse{}, fmt.Errorf("update out of sequence")
	}
	if err := f.checkRefs(spec); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	s.Spec = f.engineSpec(spec)
	s.Version.Index++
	s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
	return swarm.ServiceUpdateResponse{}, nil
}

func (f *fakeEngine) ServiceRemove(_ context.Context, id string) error {
	f.call("ServiceRemove %s", f.services[id].Spec.Name)
	delete(f.services, id)
	return nil
}

func (f *fakeEngine) ServiceList(_ context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	var out []swarm.Service
	for _, s := range f.services {
		if l := o.Filters.Get("label"); len(l) > 0 {
			k, v, _ := strings.Cut(l[0], "=")
			if s.Spec.Labels[k] != v {
				continue
			}
		}
		out = append(out, *s)
	}
	return out, nil
}

// TaskList reports every service as fully running.
func (f *fakeEngine) TaskList(_ context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	var out []swarm.Task
	for _, s := range f.services {
		n := 1
		if s.Spec.Mode.Replicated != nil {
			n = int(*s.Spec.Mode.Replicated.Replicas)
		}
		for i := 0; i < n; i++ {
			out = append(out, swarm.Task{ServiceID: s.ID, Slot: i + 1, Spec: s.Spec.TaskTemplate, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}})
		}
	}
	return out, nil
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if i, ok := f.images[ref]; ok {
		return i, nil
	}
	return image.InspectResponse{}, errdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (f *fakeEngine) ImageLoad(_ context.Context, r io.Reader, _ ...client.ImageLoadOption) (image.LoadResponse, error) {
	f.call("ImageLoad")
	b, _ := io.ReadAll(r)
	f.loaded = append(f.loaded, b)
	tmp, err := os.CreateTemp("", "fakeload-*.tar")
	if err != nil {
		return image.LoadResponse{}, err
	}
	defer os.Remove(tmp.Name())
	_, _ = tmp.Write(b)
	_ = tmp.Close()
	imgs, err := readImageArchive(tmp.Name())
	if err != nil {
		return image.LoadResponse{}, err
	}
	for _, img := range imgs {
		f.images[img.ID] = image.InspectResponse{ID: img.ID}
		for _, t := range img.Tags {
			f.images[t] = image.InspectResponse{ID: img.ID}
		}
	}
	return image.LoadResponse{Body: io.NopCloser(strings.NewReader(`{"stream":"Loaded image"}` + "\n")), JSON: true}, nil
}
