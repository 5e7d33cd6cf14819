// Package testutil holds the test helpers that tests of several packages
// share (modules, vault, cmd/swarmrun and its e2e tests).
package testutil

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ReadFile returns the content of the file p; the test fails if it cannot
// be read.
func ReadFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Tree describes every path below dir (type, mode, size, mtime, content
// hash, link target), so a check run can be shown to touch nothing.
func Tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		d := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			d += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			d += " -> " + l
		}
		out[p] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// AnsibleOracle returns the path of the Ansible tool an oracle test
// compares with. The oracle takes tens of seconds: it is skipped under
// -short and with SWARMRUN_SKIP_ANSIBLE=1 (`make oracle` runs it); a
// missing tool fails the test.
func AnsibleOracle(t testing.TB, tool string) string {
	t.Helper()
	if os.Getenv("SWARMRUN_SKIP_ANSIBLE") == "1" || testing.Short() {
		t.Skip("the Ansible oracle (make oracle)")
	}
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatal(tool + " not found: apt-get install -y ansible (or SWARMRUN_SKIP_ANSIBLE=1)")
	}
	return path
}

// AnsibleVault returns a function that runs the real ansible-vault (see
// AnsibleOracle) in dir, with dir/ansible.cfg as its only config, and
// returns its output; the test fails if it fails.
func AnsibleVault(t testing.TB, dir string) func(args ...string) string {
	t.Helper()
	tool := AnsibleOracle(t, "ansible-vault")
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ansible-vault %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
}
