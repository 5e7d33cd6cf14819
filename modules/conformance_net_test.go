package modules

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/swarmrun/swarmrun/modules/internal/kittest"
)

// The conformance fixtures of network, secret, config and image on the fake
// engine (conformance_test.go runs them).
func init() {
	kitEngineFixtures["network"] = func(t *testing.T) kittest.Runner {
		return kitEngine(t, "network", newFakeManager(), Params{"name": "web", "subnet": "10.20.0.0/24", "labels": map[string]any{"team": "ops"}})
	}
	kitEngineFixtures["secret"] = func(t *testing.T) kittest.Runner {
		// A new value for a rotated secret: a new version, the old one pruned.
		f := newFakeManager()
		p := Params{"name": "pw", "data": "one", "rotate": true, "keep": int64(1)}
		mustRun(t, "secret", target(false), f, p)
		p["data"] = "two"
		return kitEngine(t, "secret", f, p)
	}
	kitEngineFixtures["config"] = func(t *testing.T) kittest.Runner {
		// A changed value, replaced (nothing uses it); --diff shows content.
		f := newFakeManager()
		mustRun(t, "config", target(false), f, Params{"name": "web", "data": "greeting = \"hi\"\n"})
		return kitEngine(t, "config", f, Params{"name": "web", "src": "web.conf"})
	}
	kitEngineFixtures["image"] = func(t *testing.T) kittest.Runner {
		src, _ := testImageArchive(t)
		return kitEngine(t, "image", newFakeManager(), Params{"src": src})
	}
}

// testImageArchive writes a docker save archive of one image tagged
// x/y:latest and returns its path and the image's ID.
func testImageArchive(t *testing.T) (string, string) {
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	add("abc.json", cfg)
	add("manifest.json", []byte(`[{"Config":"abc.json","RepoTags":["x/y:latest"],"Layers":[]}]`))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "img.tar")
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return src, "sha256:" + sha256Hex(cfg)
}
