package stack

// Normalising service specs (as converted from the file, and as read
// back from the engine) so they compare field by field, and their diff.

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"
)

// normaliseSpec maps every form the engine treats alike to one canonical
// value, so that a spec as converted from the file and the same spec as
// read back from the engine compare equal. It returns a JSON-like tree with
// zero values removed.
func normaliseSpec(in swarm.ServiceSpec, netNames map[string]string) map[string]any {
	var s swarm.ServiceSpec
	b, _ := json.Marshal(in)
	_ = json.Unmarshal(b, &s)
	tt := &s.TaskTemplate
	if tt.Runtime == swarm.RuntimeContainer {
		tt.Runtime = ""
	}
	normaliseContainer(tt.ContainerSpec)
	tt.RestartPolicy = normaliseRestart(tt.RestartPolicy)
	s.UpdateConfig = normaliseUpdate(s.UpdateConfig)
	s.RollbackConfig = normaliseUpdate(s.RollbackConfig)
	if s.Mode.Replicated == nil && s.Mode.Global == nil && s.Mode.ReplicatedJob == nil && s.Mode.GlobalJob == nil {
		s.Mode.Replicated = &swarm.ReplicatedService{}
	}
	if r := s.Mode.Replicated; r != nil && r.Replicas == nil {
		one := uint64(1)
		r.Replicas = &one
	}
	s.EndpointSpec = normaliseEndpoint(s.EndpointSpec)
	// Networks: the engine stores network IDs; files name networks. Old
	// specs used the deprecated ServiceSpec.Networks.
	tt.Networks = normaliseNetworks(append(tt.Networks, s.Networks...), netNames) //nolint:staticcheck // reading the deprecated field is the point
	s.Networks = nil                                                              //nolint:staticcheck

	var tree map[string]any
	b, _ = json.Marshal(s)
	_ = json.Unmarshal(b, &tree)
	pruned, _ := pruneZero(tree).(map[string]any)
	if pruned == nil {
		pruned = map[string]any{}
	}
	return pruned
}

func normaliseContainer(cs *swarm.ContainerSpec) {
	if cs == nil {
		return
	}
	if cs.Isolation == container.IsolationDefault {
		cs.Isolation = ""
	}
	if cs.StopGracePeriod == nil {
		// The engine's default, which service inspect shows.
		d := 10 * time.Second
		cs.StopGracePeriod = &d
	}
	sort.SliceStable(cs.Secrets, func(i, j int) bool { return cs.Secrets[i].SecretName < cs.Secrets[j].SecretName })
	sort.SliceStable(cs.Configs, func(i, j int) bool { return cs.Configs[i].ConfigName < cs.Configs[j].ConfigName })
}

// normaliseRestart fills swarmkit's defaults: condition any, delay 5s,
// unlimited attempts (0).
func normaliseRestart(rp *swarm.RestartPolicy) *swarm.RestartPolicy {
	if rp == nil {
		rp = &swarm.RestartPolicy{}
	}
	if rp.Condition == "" {
		rp.Condition = swarm.RestartPolicyConditionAny
	}
	if rp.Delay == nil {
		d := 5 * time.Second
		rp.Delay = &d
	}
	return rp
}

func normaliseEndpoint(ep *swarm.EndpointSpec) *swarm.EndpointSpec {
	if ep == nil {
		ep = &swarm.EndpointSpec{}
	}
	if ep.Mode == "" {
		ep.Mode = swarm.ResolutionModeVIP
	}
	for i := range ep.Ports {
		if ep.Ports[i].Protocol == "" {
			ep.Ports[i].Protocol = swarm.PortConfigProtocolTCP
		}
		if ep.Ports[i].PublishMode == "" {
			ep.Ports[i].PublishMode = swarm.PortConfigPublishModeIngress
		}
	}
	return ep
}

// normaliseNetworks names the networks (netNames maps IDs to names) and
// sorts them and their aliases.
func normaliseNetworks(nets []swarm.NetworkAttachmentConfig, netNames map[string]string) []swarm.NetworkAttachmentConfig {
	for i := range nets {
		if n, ok := netNames[nets[i].Target]; ok {
			nets[i].Target = n
		}
		sort.Strings(nets[i].Aliases)
	}
	sort.SliceStable(nets, func(i, j int) bool { return nets[i].Target < nets[j].Target })
	return nets
}

func normaliseUpdate(u *swarm.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		u = &swarm.UpdateConfig{Parallelism: 1}
	}
	if u.FailureAction == "" {
		u.FailureAction = swarm.UpdateFailureActionPause
	}
	if u.Order == "" {
		u.Order = swarm.UpdateOrderStopFirst
	}
	if u.Monitor == 0 {
		u.Monitor = 5 * time.Second
	}
	return u
}

// pruneZero drops nulls, false, 0, "" and empty maps/lists: the engine's
// API treats them like absent fields (omitempty), and it turns nil labels
// into {} and the like on read back.
func pruneZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if p := pruneZero(e); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pruneZero(e)
		}
		return out
	case bool:
		if !x {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	case string:
		if x == "" {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

// specDiff lists field-level differences between two normalised specs.
// Environment values are never shown (they often carry credentials).
func specDiff(cur, want map[string]any) []string {
	var out []string
	walkDiff("", cur, want, &out)
	sort.Strings(out)
	return out
}

func walkDiff(path string, a, b any, out *[]string) {
	if reflect.DeepEqual(a, b) {
		return
	}
	if strings.HasSuffix(path, "ContainerSpec.Env") {
		envDiff(path, a, b, out)
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]any{}
		maps.Copy(keys, am)
		maps.Copy(keys, bm)
		for _, k := range sortedKeys(keys) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkDiff(p, am[k], bm[k], out)
		}
		return
	}
	al, alok := a.([]any)
	bl, blok := b.([]any)
	if alok && blok && len(al) == len(bl) {
		for i := range al {
			walkDiff(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return
	}
	*out = append(*out, fmt.Sprintf("%s: %s -> %s", path, showJSON(a), showJSON(b)))
}

func showJSON(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func envDiff(path string, a, b any, out *[]string) {
	toMap := func(v any) map[string]string {
		m := map[string]string{}
		l, _ := v.([]any)
		for _, e := range l {
			s, _ := e.(string)
			k, val, _ := strings.Cut(s, "=")
			m[k] = val
		}
		return m
	}
	am, bm := toMap(a), toMap(b)
	n := len(*out)
	for _, k := range sortedKeys(am) {
		if v, ok := bm[k]; !ok {
			*out = append(*out, fmt.Sprintf("%s: - %s", path, k))
		} else if v != am[k] {
			*out = append(*out, fmt.Sprintf("%s: ~ %s (value changed)", path, k))
		}
	}
	for _, k := range sortedKeys(bm) {
		if _, ok := am[k]; !ok {
			*out = append(*out, fmt.Sprintf("%s: + %s", path, k))
		}
	}
	if len(*out) == n {
		*out = append(*out, path+": order changed")
	}
}
