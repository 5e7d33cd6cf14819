package main

import (
	"os"
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
