// Package fakeengine is an in-memory Docker engine in swarm mode for the
// unit tests of the Docker modules (modules and modules/stack), in the
// style of docker/cli's fake API clients: it
// embeds client.APIClient (calling anything not implemented panics) and
// implements what the modules use. Like the real engine it normalises
// service specs on write (runtime "container", {} labels, restart and update
// defaults, network names to IDs, replicas 1, endpoint mode vip) and bumps
// versions, so idempotence tests meet the same read-back differences as on
// a real swarm.
package fakeengine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

// Engine is the fake engine. Its exported fields are the engine's state,
// which tests set up and inspect directly.
type Engine struct {
	client.APIClient
	mu       sync.Mutex
	SysInfo  system.Info // what Info returns
	Swarm    swarm.Swarm // what SwarmInspect returns
	Nodes    map[string]*swarm.Node
	Networks map[string]*network.Inspect
	Secrets  map[string]*swarm.Secret
	Configs  map[string]*swarm.Config
	Services map[string]*swarm.Service
	// SwarmNets are networks known in swarm scope by an ID of their own
	// (the predefined bridge and host), absent from the network list.
	SwarmNets map[string]string                // ID -> name
	Images    map[string]image.InspectResponse // by ID and by tag
	Loaded    [][]byte
	Calls     []string // mutating calls, in order
	NoLeader  bool     // the managers have no leader: node listing fails
	NextRoot  string   // the root CA certificate a CA rotation installs ("": a made-up one)
	BusyNodes int      // node updates that find the node changed meanwhile
	seq       int
}

// CA is the swarm's root CA certificate (its PEM).
const CA = "-----BEGIN CERTIFICATE-----\nfake root\n-----END CERTIFICATE-----\n"

// NewManager returns an engine that is the only manager of a swarm.
func NewManager() *Engine {
	f := NewInactive()
	f.InitSwarm("198.18.0.11")
	return f
}

// NewInactive returns an engine outside any swarm.
func NewInactive() *Engine {
	f := &Engine{
		Nodes: map[string]*swarm.Node{}, Networks: map[string]*network.Inspect{},
		Secrets: map[string]*swarm.Secret{}, Configs: map[string]*swarm.Config{},
		Services: map[string]*swarm.Service{}, Images: map[string]image.InspectResponse{},
	}
	f.SysInfo.Swarm.LocalNodeState = swarm.LocalNodeStateInactive
	return f
}

func (f *Engine) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%04d", prefix, f.seq)
}

func (f *Engine) call(format string, args ...any) {
	f.Calls = append(f.Calls, fmt.Sprintf(format, args...))
}

// InitSwarm makes the engine the only manager of a new swarm at addr.
func (f *Engine) InitSwarm(addr string) {
	nodeID := "node0001"
	f.SysInfo.Swarm = swarm.Info{
		NodeID: nodeID, NodeAddr: addr, LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true,
		RemoteManagers: []swarm.Peer{{NodeID: nodeID, Addr: addr + ":2377"}},
	}
	f.Swarm = swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "cluster1", TLSInfo: swarm.TLSInfo{TrustRoot: CA}, DataPathPort: 4789, SubnetSize: 24, DefaultAddrPool: []string{"10.0.0.0/8"}}}
	f.Swarm.Version.Index = 1
	f.Swarm.Spec.CAConfig.NodeCertExpiry = 2160 * time.Hour
	f.Swarm.JoinTokens = swarm.JoinTokens{Worker: Token(CA, "w"), Manager: Token(CA, "m")}
	ci := f.Swarm.ClusterInfo
	f.SysInfo.Swarm.Cluster = &ci
	f.Nodes[nodeID] = &swarm.Node{ID: nodeID, Meta: swarm.Meta{Version: swarm.Version{Index: 1}},
		Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
		Description:   swarm.NodeDescription{Hostname: "lab-h1"},
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: addr},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: addr + ":2377"}}
	f.Networks["ingressid"] = &network.Inspect{ID: "ingressid", Name: "ingress", Driver: "overlay", Scope: "swarm", Ingress: true}
}

// Token builds a join token for a CA the way swarmkit does: the base-36
// sha256 of the CA's PEM, then the secret.
func Token(ca, secret string) string {
	sum := sha256.Sum256([]byte(ca))
	n := new(big.Int).SetBytes(sum[:])
	return fmt.Sprintf("SWMTKN-1-%050s-%025s", n.Text(36), secret)
}

func (f *Engine) ClientVersion() string { return "1.41" }

// Ping answers: withDocker pings under --check to tell an absent engine.
func (f *Engine) Ping(context.Context) (types.Ping, error) {
	return types.Ping{APIVersion: "1.41"}, nil
}

func (f *Engine) Info(context.Context) (system.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.SysInfo, nil
}

func (f *Engine) SwarmInit(_ context.Context, req swarm.InitRequest) (string, error) {
	f.call("SwarmInit %s force=%v", req.AdvertiseAddr, req.ForceNewCluster)
	f.NoLeader = false
	f.InitSwarm(req.AdvertiseAddr)
	f.Swarm.Spec.CAConfig.NodeCertExpiry = req.Spec.CAConfig.NodeCertExpiry
	f.Swarm.Spec.EncryptionConfig.AutoLockManagers = req.AutoLockManagers
	return "node0001", nil
}

func (f *Engine) SwarmInspect(context.Context) (swarm.Swarm, error) {
	if !f.SysInfo.Swarm.ControlAvailable {
		return swarm.Swarm{}, errdefs.ErrUnavailable.WithMessage("This node is not a swarm manager")
	}
	return f.Swarm, nil
}

func (f *Engine) SwarmUpdate(_ context.Context, v swarm.Version, spec swarm.Spec, flags swarm.UpdateFlags) error {
	f.call("SwarmUpdate")
	if v.Index != f.Swarm.Version.Index {
		return fmt.Errorf("update out of sequence")
	}
	f.seq++
	if spec.CAConfig.ForceRotate != f.Swarm.Spec.CAConfig.ForceRotate {
		f.Swarm.TLSInfo.TrustRoot = fmt.Sprintf("%s-rotated-%d", CA, f.seq)
		if f.NextRoot != "" {
			f.Swarm.TLSInfo.TrustRoot = f.NextRoot
		}
		flags.RotateWorkerToken, flags.RotateManagerToken = true, true
	}
	if flags.RotateWorkerToken {
		f.Swarm.JoinTokens.Worker = Token(f.Swarm.TLSInfo.TrustRoot, fmt.Sprintf("w%d", f.seq))
	}
	if flags.RotateManagerToken {
		f.Swarm.JoinTokens.Manager = Token(f.Swarm.TLSInfo.TrustRoot, fmt.Sprintf("m%d", f.seq))
	}
	f.Swarm.Spec = spec
	f.Swarm.Version.Index++
	return nil
}

func (f *Engine) SwarmUnlock(_ context.Context, req swarm.UnlockRequest) error {
	f.call("SwarmUnlock")
	if req.UnlockKey != "SWMKEY-1-fake" {
		return errdefs.ErrInvalidArgument.WithMessage("invalid key")
	}
	f.SysInfo.Swarm.LocalNodeState = swarm.LocalNodeStateActive
	return nil
}

func (f *Engine) SwarmGetUnlockKey(context.Context) (swarm.UnlockKeyResponse, error) {
	return swarm.UnlockKeyResponse{UnlockKey: "SWMKEY-1-fake"}, nil
}

// joinAs is what the next SwarmJoin makes of the node.
func (f *Engine) SwarmJoin(_ context.Context, req swarm.JoinRequest) error {
	f.call("SwarmJoin %s", strings.Join(req.RemoteAddrs, ","))
	if f.SysInfo.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
		return fmt.Errorf("This node is already part of a swarm")
	}
	f.SysInfo.Swarm = swarm.Info{NodeID: "node0009", NodeAddr: req.AdvertiseAddr, LocalNodeState: swarm.LocalNodeStateActive,
		RemoteManagers: []swarm.Peer{{NodeID: "node0001", Addr: req.RemoteAddrs[0]}}}
	return nil
}

func (f *Engine) SwarmLeave(_ context.Context, force bool) error {
	f.call("SwarmLeave force=%v", force)
	f.SysInfo.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
	return nil
}

func (f *Engine) NodeRemove(_ context.Context, id string, _ swarm.NodeRemoveOptions) error {
	f.call("NodeRemove %s", f.Nodes[id].Description.Hostname)
	delete(f.Nodes, id)
	return nil
}

func (f *Engine) NodeList(context.Context, swarm.NodeListOptions) ([]swarm.Node, error) {
	if f.NoLeader {
		return nil, errdefs.ErrUnavailable.WithMessage("rpc error: The swarm does not have a leader")
	}
	var out []swarm.Node
	for _, n := range f.Nodes {
		out = append(out, *n)
	}
	return out, nil
}

func (f *Engine) NodeInspectWithRaw(_ context.Context, id string) (swarm.Node, []byte, error) {
	if n, ok := f.Nodes[id]; ok {
		return *n, nil, nil
	}
	return swarm.Node{}, nil, errdefs.ErrNotFound.WithMessage("node " + id + " not found")
}

func (f *Engine) NodeUpdate(_ context.Context, id string, v swarm.Version, spec swarm.NodeSpec) error {
	f.call("NodeUpdate %s", id)
	n := f.Nodes[id]
	if f.BusyNodes > 0 { // the agent (or a role change) updated it just now
		f.BusyNodes--
		n.Version.Index++
	}
	if n.Version.Index != v.Index {
		return fmt.Errorf("update out of sequence")
	}
	n.Spec = spec
	n.Version.Index++
	return nil
}

func (f *Engine) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	var out []network.Summary
	for _, n := range f.Networks {
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

func (f *Engine) NetworkInspect(_ context.Context, id string, o network.InspectOptions) (network.Inspect, error) {
	if name, ok := f.SwarmNets[id]; ok && o.Scope == "swarm" {
		return network.Inspect{ID: id, Name: name, Scope: "swarm"}, nil
	}
	for _, n := range f.Networks {
		if n.ID == id || n.Name == id {
			return *n, nil
		}
	}
	return network.Inspect{}, errdefs.ErrNotFound.WithMessage("network " + id + " not found")
}

func (f *Engine) NetworkCreate(_ context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
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
	f.Networks[id] = &network.Inspect{ID: id, Name: name, Created: time.Now(), Driver: o.Driver, Scope: o.Scope, Attachable: o.Attachable, Internal: o.Internal, Options: opts, Labels: labels, IPAM: ipam}
	if f.Networks[id].Scope == "" {
		f.Networks[id].Scope = "swarm"
	}
	return network.CreateResponse{ID: id}, nil
}

func (f *Engine) NetworkRemove(_ context.Context, id string) error {
	f.call("NetworkRemove %s", f.Networks[id].Name)
	delete(f.Networks, id)
	return nil
}

func (f *Engine) SecretList(_ context.Context, o swarm.SecretListOptions) ([]swarm.Secret, error) {
	out := listed(f.Secrets, o.Filters, func(s *swarm.Secret) swarm.Annotations { return s.Spec.Annotations })
	for i := range out {
		out[i].Spec.Data = nil // the engine never returns secret data
	}
	return out, nil
}

// listed copies the secrets or configs in objs that the name and label
// filters select (ann gives an object's name and labels).
func listed[T any](objs map[string]*T, o filters.Args, ann func(*T) swarm.Annotations) []T {
	var out []T
	for _, x := range objs {
		a := ann(x)
		if names := o.Get("name"); len(names) > 0 && !contains(names, a.Name) {
			continue
		}
		if !fakeLabelsMatch(o.Get("label"), a.Labels) {
			continue
		}
		out = append(out, *x)
	}
	return out
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

func (f *Engine) SecretInspectWithRaw(_ context.Context, name string) (swarm.Secret, []byte, error) {
	for _, s := range f.Secrets {
		if s.ID == name || s.Spec.Name == name {
			c := *s
			c.Spec.Data = nil
			return c, nil, nil
		}
	}
	return swarm.Secret{}, nil, errdefs.ErrNotFound.WithMessage("secret " + name + " not found")
}

func (f *Engine) SecretCreate(_ context.Context, spec swarm.SecretSpec) (swarm.SecretCreateResponse, error) {
	f.call("SecretCreate %s", spec.Name)
	for _, s := range f.Secrets {
		if s.Spec.Name == spec.Name {
			return swarm.SecretCreateResponse{}, errdefs.ErrConflict.WithMessage("secret " + spec.Name + " already exists")
		}
	}
	id := f.id("sec")
	f.Secrets[id] = &swarm.Secret{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	return swarm.SecretCreateResponse{ID: id}, nil
}

func (f *Engine) SecretUpdate(_ context.Context, id string, v swarm.Version, spec swarm.SecretSpec) error {
	f.call("SecretUpdate %s", spec.Name)
	s := f.Secrets[id]
	if spec.Data != nil && !bytes.Equal(spec.Data, s.Spec.Data) {
		return fmt.Errorf("only updates to Labels are allowed")
	}
	s.Spec.Labels = spec.Labels
	s.Version.Index++
	return nil
}

func (f *Engine) SecretRemove(_ context.Context, id string) error {
	f.call("SecretRemove %s", f.Secrets[id].Spec.Name)
	delete(f.Secrets, id)
	return nil
}

func (f *Engine) ConfigList(_ context.Context, o swarm.ConfigListOptions) ([]swarm.Config, error) {
	return listed(f.Configs, o.Filters, func(c *swarm.Config) swarm.Annotations { return c.Spec.Annotations }), nil
}

func (f *Engine) ConfigInspectWithRaw(_ context.Context, name string) (swarm.Config, []byte, error) {
	for _, c := range f.Configs {
		if c.ID == name || c.Spec.Name == name {
			return *c, nil, nil
		}
	}
	return swarm.Config{}, nil, errdefs.ErrNotFound.WithMessage("config " + name + " not found")
}

func (f *Engine) ConfigCreate(_ context.Context, spec swarm.ConfigSpec) (swarm.ConfigCreateResponse, error) {
	f.call("ConfigCreate %s", spec.Name)
	id := f.id("cfg")
	f.Configs[id] = &swarm.Config{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: spec}
	return swarm.ConfigCreateResponse{ID: id}, nil
}

func (f *Engine) ConfigUpdate(_ context.Context, id string, _ swarm.Version, spec swarm.ConfigSpec) error {
	f.call("ConfigUpdate %s", spec.Name)
	f.Configs[id].Spec.Labels = spec.Labels
	return nil
}

func (f *Engine) ConfigRemove(_ context.Context, id string) error {
	f.call("ConfigRemove %s", f.Configs[id].Spec.Name)
	delete(f.Configs, id)
	return nil
}

// EngineSpec is what the engine stores and returns for a service spec.
func (f *Engine) EngineSpec(in swarm.ServiceSpec) swarm.ServiceSpec {
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
		for id, name := range f.SwarmNets {
			if name == n.Target {
				swarmID = id
			}
		}
		if swarmID != "" {
			s.TaskTemplate.Networks[i].Target = swarmID
			continue
		}
		for _, nw := range f.Networks {
			if nw.Name == n.Target {
				s.TaskTemplate.Networks[i].Target = nw.ID
			}
		}
	}
	return s
}

func (f *Engine) ServiceCreate(_ context.Context, spec swarm.ServiceSpec, _ swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	f.call("ServiceCreate %s", spec.Name)
	if err := f.checkRefs(spec); err != nil {
		return swarm.ServiceCreateResponse{}, err
	}
	id := f.id("svc")
	f.Services[id] = &swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 10}}, Spec: f.EngineSpec(spec)}
	return swarm.ServiceCreateResponse{ID: id}, nil
}

// checkRefs fails like the engine for references to missing objects.
func (f *Engine) checkRefs(spec swarm.ServiceSpec) error {
	for _, s := range spec.TaskTemplate.ContainerSpec.Secrets {
		if _, ok := f.Secrets[s.SecretID]; !ok {
			return fmt.Errorf("secret not found: %s", s.SecretID)
		}
	}
	for _, c := range spec.TaskTemplate.ContainerSpec.Configs {
		if _, ok := f.Configs[c.ConfigID]; !ok {
			return fmt.Errorf("config not found: %s", c.ConfigID)
		}
	}
	return nil
}

func (f *Engine) ServiceUpdate(_ context.Context, id string, v swarm.Version, spec swarm.ServiceSpec, _ swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	f.call("ServiceUpdate %s", spec.Name)
	s := f.Services[id]
	if s.Version.Index != v.Index {
		return swarm.ServiceUpdateResponse{}, fmt.Errorf("update out of sequence")
	}
	if err := f.checkRefs(spec); err != nil {
		return swarm.ServiceUpdateResponse{}, err
	}
	s.Spec = f.EngineSpec(spec)
	s.Version.Index++
	s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
	return swarm.ServiceUpdateResponse{}, nil
}

func (f *Engine) ServiceRemove(_ context.Context, id string) error {
	f.call("ServiceRemove %s", f.Services[id].Spec.Name)
	delete(f.Services, id)
	return nil
}

func (f *Engine) ServiceList(_ context.Context, o swarm.ServiceListOptions) ([]swarm.Service, error) {
	var out []swarm.Service
	for _, s := range f.Services {
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
func (f *Engine) TaskList(_ context.Context, o swarm.TaskListOptions) ([]swarm.Task, error) {
	var out []swarm.Task
	for _, s := range f.Services {
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

func (f *Engine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if i, ok := f.Images[ref]; ok {
		return i, nil
	}
	return image.InspectResponse{}, errdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

// ImageLoad reads a docker save archive the way the engine does (its own
// reading, not the image module's): manifest.json names each image's
// config, whose sha256 is the image ID.
func (f *Engine) ImageLoad(_ context.Context, r io.Reader, _ ...client.ImageLoadOption) (image.LoadResponse, error) {
	f.call("ImageLoad")
	b, _ := io.ReadAll(r)
	f.Loaded = append(f.Loaded, b)
	members := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return image.LoadResponse{}, err
		}
		members[path.Clean(h.Name)], _ = io.ReadAll(tr)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(members["manifest.json"], &manifest); err != nil {
		return image.LoadResponse{}, fmt.Errorf("manifest.json: %w", err)
	}
	for _, m := range manifest {
		id := fmt.Sprintf("sha256:%x", sha256.Sum256(members[path.Clean(m.Config)]))
		f.Images[id] = image.InspectResponse{ID: id}
		for _, t := range m.RepoTags {
			f.Images[t] = image.InspectResponse{ID: id}
		}
	}
	return image.LoadResponse{Body: io.NopCloser(strings.NewReader(`{"stream":"Loaded image"}` + "\n")), JSON: true}, nil
}
