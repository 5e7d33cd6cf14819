package stack

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmrun/swarmrun/modules"
)

// Secrets and configs that exist: a stack-deploy-made one (no hash label)
// is taken as is and only relabelled without claiming a hash; a changed
// value is refused, since they are immutable.
func TestPlanExistingObjects(t *testing.T) {
	want := map[string]string{"com.docker.stack.namespace": "s", "tier": "db", modules.HashLabel: modules.SHA256Hex([]byte("v"))}
	cur := swarm.Secret{ID: "sec1", Meta: swarm.Meta{Version: swarm.Version{Index: 7}},
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "s_token", Labels: map[string]string{"com.docker.stack.namespace": "s"}}}}
	p := &stackPlan{}
	if err := p.secret(swarm.SecretSpec{Annotations: swarm.Annotations{Name: "s_token", Labels: want}}, cur); err != nil {
		t.Fatal(err)
	}
	if len(p.relabels) != 1 || p.relabels[0].id != "sec1" || p.relabels[0].version.Index != 7 || p.relabels[0].secret == nil ||
		p.relabels[0].secret.Labels[modules.HashLabel] != "" || p.relabels[0].secret.Labels["tier"] != "db" {
		t.Fatalf("relabel %+v", p.relabels)
	}
	if strings.Join(p.relabels[0].notes, ";") != "secret s_token label + tier=db" || p.changes(nil, "never").Empty() {
		t.Fatalf("notes %q", p.relabels[0].notes)
	}
	if c := p.changes(nil, "never").Changes; len(c) != 1 || c[0].What != "relabel secret s_token" || c[0].Diff != "~ secret s_token label + tier=db\n" {
		t.Fatalf("change %+v", c)
	}
	// The same secret with our hash of another value: refused.
	cur.Spec.Labels = map[string]string{modules.HashLabel: modules.SHA256Hex([]byte("old"))}
	if err := (&stackPlan{}).secret(swarm.SecretSpec{Annotations: swarm.Annotations{Name: "s_token", Labels: want}}, cur); err == nil || !strings.Contains(err.Error(), "secret s_token has changed") {
		t.Fatalf("changed secret: %v", err)
	}
	// A config compares by its data; equal data and labels: nothing to do.
	cfg := swarm.Config{ID: "cfg1", Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "s_conf", Labels: want}, Data: []byte("v")}}
	p = &stackPlan{}
	if err := p.config(swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "s_conf", Labels: want}, Data: []byte("v")}, cfg); err != nil || !p.changes(nil, "never").Empty() {
		t.Fatalf("same config: %v %+v", err, p)
	}
	cfg.Spec.Data = []byte("w")
	if err := p.config(swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "s_conf", Labels: want}, Data: []byte("v")}, cfg); err == nil || !strings.Contains(err.Error(), "config s_conf has changed") {
		t.Fatalf("changed config: %v", err)
	}
}
