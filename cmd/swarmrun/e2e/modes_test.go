//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlayModes: --syntax-check and --list-hosts never connect (one host
// of the inventory does not exist); --check --detailed-exitcode exits 6 on
// a drifted host and touches nothing, 0 once a run fixed it; -vv/-vvv/-vvvv
// show output, commands and SSH details with secrets masked.
func TestPlayModes(t *testing.T) {
	l := startLab(t, 41, 2, false)
	dir := t.TempDir()
	book := writeFile(t, filepath.Join(dir, "drift.star"), `all = hosts("all")
copy(all, name = "drift file", dest = "/etc/swarmrun-drift.conf", content = "wanted\n")
shell(hosts("h1"), name = "echo secret", cmd = "echo token=" + env("E2E_MODES_SECRET"), changed_when = False, check_safe = True)
`)
	bad := writeFile(t, filepath.Join(dir, "bad.star"), "copy(hosts(\"all\"), dest = \"/x\", contnet = \"typo\")\n")
	ghost := l.InventoryWith(t, filepath.Join(dir, "ghost"), func(inv string) string {
		return strings.Replace(inv, "[workers]", "[workers]\nghost ansible_host=198.18.41.99", 1)
	})
	t.Setenv("E2E_MODES_SECRET", "modes-secret-991")
	sw := l.SwarmrunExit

	out, code := sw("play", book, "-i", ghost, "--syntax-check")
	if code != 0 || !strings.Contains(out, "syntax ok: 2 steps") {
		t.Errorf("--syntax-check: exit %d\n%s", code, out)
	}
	out, code = sw("play", bad, "-i", ghost, "--syntax-check")
	if code != 1 || !strings.Contains(out, "bad.star:1") || !strings.Contains(out, "contnet") {
		t.Errorf("--syntax-check of a bad argument: exit %d\n%s", code, out)
	}
	out, code = sw("play", book, "-i", ghost, "--list-hosts")
	if code != 0 || !strings.Contains(out, "drift file [copy]\n    hosts (3):\n      h1\n      ghost\n      h2\n") || !strings.Contains(out, "echo secret [shell]\n    hosts (1):\n      h1\n") {
		t.Errorf("--list-hosts: exit %d\n%s", code, out)
	}

	out, code = sw("play", book, "-i", l.Inventory, "--detailed-exitcode")
	if code != 6 {
		t.Fatalf("first run with --detailed-exitcode: exit %d, want 6 (changed)\n%s", code, out)
	}
	out, code = sw("play", book, "-i", l.Inventory, "--check", "--detailed-exitcode")
	if code != 0 {
		t.Fatalf("--check --detailed-exitcode after a run: exit %d, want 0\n%s", code, out)
	}
	l.MustSSH(t, "h2", "echo drifted > /etc/swarmrun-drift.conf")
	out, code = sw("play", book, "-i", l.Inventory, "--check", "--detailed-exitcode")
	if code != 6 || !strings.Contains(out, "changed: [h2]") || strings.Contains(out, "changed: [h1]") {
		t.Errorf("--check --detailed-exitcode on drifted h2: exit %d, want 6\n%s", code, out)
	}
	if got := l.MustSSH(t, "h2", "cat /etc/swarmrun-drift.conf"); got != "drifted\n" {
		t.Errorf("--check touched the drifted file: %q", got)
	}
	if out, code = sw("play", book, "-i", l.Inventory); code != 0 {
		t.Fatalf("fixing run: exit %d\n%s", code, out)
	}
	if out, code = sw("play", book, "-i", l.Inventory, "--check", "--detailed-exitcode"); code != 0 {
		t.Errorf("--check --detailed-exitcode after fixing: exit %d\n%s", code, out)
	}

	out, code = sw("play", book, "-i", l.Inventory, "-vvvv", "--limit", "h1")
	for _, want := range []string{"<h1> SSH: connecting to h1 (root@198.18.41.11:22)", "<h1> EXEC", "stdout: token=********"} {
		if !strings.Contains(out, want) {
			t.Errorf("-vvvv output lacks %q", want)
		}
	}
	if code != 0 || strings.Contains(out, "modes-secret-991") {
		t.Errorf("-vvvv: exit %d, secret printed: %v\n%s", code, strings.Contains(out, "modes-secret-991"), out)
	}
	out, _ = sw("play", book, "-i", l.Inventory, "-vv", "--limit", "h1")
	if !strings.Contains(out, "stdout: token=********") || strings.Contains(out, "<h1> EXEC") {
		t.Errorf("-vv shows output but not commands:\n%s", out)
	}
	testInventoryMerge(t, l)
}

// testInventoryMerge: two -i sources and the playbook directory's
// group_vars feed one run, with Ansible's precedence (a host variable of
// the second inventory beats the playbook's group_vars/all).
func testInventoryMerge(t *testing.T, l *Lab) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pb", "group_vars"), 0o755)
	files := map[string]string{
		"pb/merge.star":         "copy(hosts(\"all\"), dest = \"/etc/swarmrun-merge.conf\", content = lambda h: h.vars[\"merge_value\"] + \"\\n\")\n",
		"pb/group_vars/all.yml": "merge_value: playbook-dir\n",
		"second.yml":            "all:\n  hosts:\n    h2: {merge_value: second-inventory}\n",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	out, err := l.Swarmrun("play", filepath.Join(dir, "pb", "merge.star"), "-i", l.Inventory, "-i", filepath.Join(dir, "second.yml"))
	if err != nil {
		t.Fatalf("two -i: %v\n%s", err, out)
	}
	for host, want := range map[string]string{"h1": "playbook-dir\n", "h2": "second-inventory\n"} {
		if got := l.MustSSH(t, host, "cat /etc/swarmrun-merge.conf"); got != want {
			t.Errorf("%s: %q, want %q", host, got, want)
		}
	}
}
