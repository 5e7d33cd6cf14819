package modules

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/modules/internal/kittest"
)

// The motd module that docs/ARCHITECTURE.md's "Adding a module, step by
// step" walks through. It is not registered: TestArchitectureWalkthrough
// checks that the document shows runMotd as written here and that the
// module passes the kit's conformance check.
var motdModule = &Module{
	Name: "motd",
	Doc:  "Write /etc/motd.\n\nThe message of the day, as given.\n\n    motd(hosts(\"all\"), text = \"welcome\\n\")",
	Params: []Param{
		{Name: "text", Type: String, Required: true, Doc: "the message"},
		{Name: "path", Type: String, Default: "/etc/motd", Doc: "the file"},
	},
	Run: runMotd,
}

func runMotd(ctx context.Context, t *Target, p Params) (*Result, error) {
	path, want := p.String("path"), p.String("text")
	plan := NewPlan("motd", path+" as wanted")
	// Observe: one round trip, no process beyond the shell.
	out, err := Sh(ctx, t, fmt.Sprintf("if [ -e %s ]; then %s; %s; fi", Quote(path), hpSection("file"), hpCat(path)))
	if err != nil {
		return nil, plan.Errorf("reading %s: %w", path, err) // "motd: reading ..."
	}
	old, exists := hpSections(out)["file"]
	// Plan: pure.
	if old != want || !exists {
		plan.UpdateFile(t, path, old, want, 0o644) // "update PATH", its diff, the write
	}
	// Apply: check mode, diff, wording and errors are the gate's.
	return plan.Apply(ctx, t, nil)
}

func TestArchitectureWalkthrough(t *testing.T) {
	doc, err := os.ReadFile("../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("walkthrough_test.go")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/ARCHITECTURE.md has no Go block")
	}
	// The document indents the block under its list item.
	code := regexp.MustCompile(`(?m)^   `).ReplaceAllString(string(block[1]), "")
	if !strings.Contains(string(self), code) {
		t.Errorf("docs/ARCHITECTURE.md's runMotd is not the one in walkthrough_test.go:\n%s", code)
	}
	// Step 4: the fixture the document gives, through the kit's check.
	tg := genTarget(t)
	given, err := motdModule.WithDefaults(Params{"path": tg.Dir + "/motd", "text": "hello\n"})
	if err != nil {
		t.Fatal(err)
	}
	kittest.Conform(t, kittest.Runner{
		Run: func(check bool) (kittest.Outcome, error) {
			c := *tg
			c.Check = check
			return outcome(motdModule.Run(context.Background(), &c, given))
		},
		Touched: func() any { return genSnapshot(t, tg.Dir) },
	})
}
