package modules

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestImageTagsFromArchive: the tags output is the archive's RepoTags in
// every mode, not only once the engine has the image, so a later step can
// use it on a first load and in check mode.
func TestImageTagsFromArchive(t *testing.T) {
	src, id := testImageArchive(t)
	want := []any{"x/y:latest"}
	f := newFakeManager()
	step := func(what string, check, changed bool) {
		t.Helper()
		tg := target(check)
		tg.Dir = filepath.Dir(src)
		r := mustRun(t, "image", tg, f, Params{"src": "img.tar"})
		if r.Changed != changed || r.Outputs["id"] != id || !reflect.DeepEqual(r.Outputs["tags"], want) {
			t.Fatalf("%s: changed %v, outputs %v; want changed %v, tags %v", what, r.Changed, r.Outputs, changed, want)
		}
	}
	step("check before a load", true, true)
	if len(f.Loaded) != 0 {
		t.Fatalf("check mode loaded: %d", len(f.Loaded))
	}
	step("first load", false, true)
	if len(f.Loaded) != 1 {
		t.Fatalf("first load: loaded %d", len(f.Loaded))
	}
	step("re-run", false, false)
	step("check when present", true, false)
	// The tag is gone from the engine: still the archive's tag.
	delete(f.Images, "x/y:latest")
	step("check with the tag gone", true, true)
	if len(f.Loaded) != 1 {
		t.Fatalf("re-run or check loaded again: %d", len(f.Loaded))
	}
}
