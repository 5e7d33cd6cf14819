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

// Every module and every parameter is documented.
func TestEveryParameterDocumented(t *testing.T) {
	for _, m := range modules.All() {
		if m.Doc == "" || m.Run == nil {
			t.Errorf("module %s: no doc or no Run", m.Name)
		}
		for _, p := range m.Params {
			if p.Doc == "" {
				t.Errorf("module %s: parameter %s has no doc", m.Name, p.Name)
			}
		}
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
