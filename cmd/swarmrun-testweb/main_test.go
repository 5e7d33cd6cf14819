package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretNames(t *testing.T) {
	d := t.TempDir()
	if got := secretNames(filepath.Join(d, "absent")); len(got) != 0 {
		t.Errorf("absent dir: %v", got)
	}
	os.WriteFile(filepath.Join(d, "b"), []byte("x"), 0o400)
	os.WriteFile(filepath.Join(d, "a"), []byte("y"), 0o400)
	os.Mkdir(filepath.Join(d, "dir"), 0o755)
	if got := strings.Join(secretNames(d), ","); got != "a,b" {
		t.Errorf("got %q", got)
	}
}
