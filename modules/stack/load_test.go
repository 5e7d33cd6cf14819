package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Compose errors name the file and the line to look at.
func TestLoadComposeErrorLines(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, text, want string }{
		{"syntax.yml", "version: \"3.8\"\nservices:\n  web:\n    image: a\n    environment:\n      A: \"1\"\n     B: x\n",
			"syntax.yml:7: did not find expected key (in the block that starts at line 3)"},
		{"key.yml", "version: \"3.8\"\nservices:\n  web:\n    image: a\n    replicas: 2\n",
			"key.yml:5: services.web Additional property replicas is not allowed"},
		{"type.yml", "version: \"3.8\"\nservices:\n  web:\n    image: a\n    deploy:\n      replicas: two\n",
			"type.yml:6: services.web.deploy.replicas must be a integer"},
		{"root.yml", "version: \"3.8\"\nservices:\n  web:\n    image: a\nnetwork:\n  x: {}\n",
			"root.yml:5: (root) Additional property network is not allowed"},
	}
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, c.name), []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := loadCompose(dir, []string{c.name}, nil)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) || !strings.HasPrefix(err.Error(), dir) {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
	}
}

func FuzzComposeLoad(f *testing.F) {
	for _, p := range []string{"../../testdata/e2e/swarm/simple.yml", "../../testdata/e2e/swarm/web.yml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: '3.8'\nservices:\n  a: &a\n    image: x\n    labels: *a\n"))
	f.Add([]byte("services:\n  web:\n    image: nginx\n    environment:\n      - A=${X:?need X}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "c.yml"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := loadCompose(dir, []string{"c.yml"}, map[string]string{"X": "1"})
		if err == nil && cfg == nil {
			t.Fatal("no error and no config")
		}
	})
}
