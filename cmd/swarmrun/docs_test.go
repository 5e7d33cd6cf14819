package main

import (
	"os"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime"
)

// docs/modules.md is generated from the schemas; this keeps it in sync.
func TestModulesReferenceInSync(t *testing.T) {
	want := runtime.ModulesMarkdown()
	got, err := os.ReadFile("../../docs/modules.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/modules.md is stale: run `make docs`")
	}
}

// Every module's schema is documented: a summary line, details and an
// example in its doc, a doc for every parameter; the runtime's common
// arguments are not parameters; tokens and secret data are sensitive. The
// Docker modules document their outputs, which later steps use.
func TestEveryParameterDocumented(t *testing.T) {
	withOutputs := map[string]bool{"swarm_init": true, "swarm_join": true, "node_label": true, "node": true,
		"network": true, "secret": true, "config": true, "image": true, "stack": true}
	for _, m := range modules.All() {
		n := m.Name
		if m.Run == nil || !strings.Contains(m.Doc, "\n\n") || !strings.Contains(m.Doc, n+"(") {
			t.Errorf("module %s: no Run, or its doc needs a summary line, details and an example", n)
		}
		for _, p := range m.Params {
			if p.Doc == "" {
				t.Errorf("module %s: parameter %s has no doc", n, p.Name)
			}
			if p.Name == "timeout" {
				t.Errorf("module %s: timeout is a common argument the runtime consumes", n)
			}
			if (p.Name == "token" || (n == "secret" && p.Name == "data")) && !p.Sensitive {
				t.Errorf("module %s: parameter %s must be sensitive", n, p.Name)
			}
		}
		if withOutputs[n] && len(m.Outputs) == 0 {
			t.Errorf("module %s: outputs undocumented", n)
		}
		delete(withOutputs, n)
	}
	if len(withOutputs) > 0 {
		t.Errorf("modules not registered: %v", withOutputs)
	}
}

// The README's network rule table is what firewall-rules.star prints for
// the example inventory (the same functions site.star's firewall uses).
func TestReadmeNetworkTableInSync(t *testing.T) {
	out, code := swarmrun(t, "../..", "play", "playbooks/firewall-rules.star", "-i", "playbooks/inventory/hosts")
	if code != 0 {
		t.Fatalf("firewall-rules.star: exit %d\n%s", code, out)
	}
	var table []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "|") {
			table = append(table, l)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The example: ESP between the nodes (its network is encrypted), 2377
	// only on the manager, the admin port only from the admin network.
	for _, want := range []string{"| manager-1 | ufw (INPUT) | 2377/tcp, 7946/tcp, 7946/udp, 4789/udp, esp | worker-1 (192.0.2.21) |",
		"| worker-1 | ufw (INPUT) | 7946/tcp, 7946/udp, 4789/udp, esp | manager-1 (192.0.2.11) |",
		"| all | DOCKER-USER (published) | 8081/tcp | 192.0.2.0/28; others dropped |"} {
		if !strings.Contains(out, want) {
			t.Errorf("firewall-rules.star lacks %q:\n%s", want, out)
		}
	}
	if len(table) < 5 || !strings.Contains(string(readme), strings.Join(table, "\n")+"\n") {
		t.Errorf("README.md's network table is stale; it should be:\n%s", strings.Join(table, "\n"))
	}
}
