package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/testutil"
)

// docs/RELIABILITY.md cannot drift from the code: the tests it names
// exist, every fuzz target of `make fuzz` is listed and has a seed
// corpus, and every canary use it lists is where it says.
func TestReliabilityDocInSync(t *testing.T) {
	doc := testutil.ReadFile(t, "../../docs/RELIABILITY.md")
	src := allTestSources(t)
	for _, m := range regexp.MustCompile("`(Test\\w+)`").FindAllStringSubmatch(doc, -1) {
		if !strings.Contains(src, "func "+m[1]+"(") {
			t.Errorf("RELIABILITY.md names %s, which does not exist", m[1])
		}
	}
	mk := testutil.ReadFile(t, "../../Makefile")
	block := regexp.MustCompile(`(?s)\nFUZZ\s*:=(.*?)\n\S`).FindStringSubmatch(mk)
	if block == nil {
		t.Fatal("no FUZZ list in the Makefile")
	}
	targets := strings.Fields(strings.ReplaceAll(block[1], `\`, " "))
	if len(targets) == 0 {
		t.Fatal("empty FUZZ list")
	}
	for _, tg := range targets {
		pkg, name, _ := strings.Cut(tg, ":")
		if !strings.Contains(doc, "`"+tg+"`") {
			t.Errorf("fuzz target %s is not in RELIABILITY.md", tg)
		}
		if !strings.Contains(src, "func "+name+"(f *testing.F)") {
			t.Errorf("fuzz target %s does not exist", tg)
		}
		seeds, _ := os.ReadDir(filepath.Join("../..", pkg, "testdata", "fuzz", name))
		if len(seeds) == 0 {
			t.Errorf("fuzz target %s has no committed seed corpus", tg)
		}
	}
	for _, m := range regexp.MustCompile("\\| `([^`]+)`: `([^`]+)` \\|").FindAllStringSubmatch(doc, -1) {
		if !strings.Contains(testutil.ReadFile(t, filepath.Join("../..", m[1])), m[2]) {
			t.Errorf("canary use %q is not in %s", m[2], m[1])
		}
	}
}

func allTestSources(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			x, _ := os.ReadFile(p)
			b.Write(x)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
