package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/testutil"
)

// TestOracleVaultCLI: every swarmrun vault subcommand writes what
// ansible-vault reads, and reads what ansible-vault writes.
func TestOracleVaultCLI(t *testing.T) {
	dir := t.TempDir()
	ansible := testutil.AnsibleVault(t, dir)
	write(t, dir, map[string]string{"pw": "first pw\n", "pw2": "second pw\n", "ansible.cfg": "",
		"a.yml": "a: 1\n", "b.yml": "b: 2\n", "edit.sh": "#!/bin/sh\necho 'added: 3' >> \"$1\"\n"})
	os.Chmod(filepath.Join(dir, "edit.sh"), 0o755)
	ours := func(args ...string) string {
		t.Helper()
		out, code := swarmrun(t, dir, append([]string{"vault"}, args...)...)
		if code != 0 {
			t.Fatalf("swarmrun vault %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	// encrypt (ours, labelled) -> ansible view; edit and rekey (ours) -> ansible view.
	ours("encrypt", "--vault-id", "dev@pw", "a.yml")
	if head, _ := os.ReadFile(filepath.Join(dir, "a.yml")); !strings.HasPrefix(string(head), "$ANSIBLE_VAULT;1.2;AES256;dev\n") {
		t.Fatalf("encrypted a.yml: %q", head)
	}
	if got := ansible("view", "--vault-id", "dev@pw", "a.yml"); got != "a: 1\n" {
		t.Fatalf("ansible-vault view: %q", got)
	}
	os.Setenv("EDITOR", filepath.Join(dir, "edit.sh"))
	ours("edit", "--vault-password-file", "pw", "a.yml")
	ours("rekey", "--vault-password-file", "pw", "--new-vault-password-file", "pw2", "a.yml")
	if got := ansible("view", "--vault-password-file", "pw2", "a.yml"); got != "a: 1\nadded: 3\n" {
		t.Fatalf("after edit and rekey, ansible-vault view: %q", got)
	}
	ours("create", "--vault-password-file", "pw", "new.yml")
	if got := ansible("view", "--vault-password-file", "pw", "new.yml"); got != "added: 3\n" {
		t.Fatalf("ansible-vault view of a file made by swarmrun vault create: %q", got)
	}
	// encrypt (ansible) -> our view, decrypt.
	ansible("encrypt", "--vault-password-file", "pw", "b.yml")
	if got := ours("view", "--vault-password-file", "pw", "b.yml"); got != "b: 2\n" {
		t.Fatalf("swarmrun vault view: %q", got)
	}
	ours("decrypt", "--vault-password-file", "pw", "b.yml")
	if got, _ := os.ReadFile(filepath.Join(dir, "b.yml")); string(got) != "b: 2\n" {
		t.Fatalf("decrypted b.yml: %q", got)
	}
	// encrypt_string (ours) is a YAML value ansible reads; and the reverse.
	s := ours("encrypt_string", "--vault-password-file", "pw", "--name", "tok", "s3cret value")
	write(t, dir, map[string]string{"c.yml": s})
	env := strings.ReplaceAll(strings.SplitN(s, "\n", 2)[1], "          ", "")
	write(t, dir, map[string]string{"c.vault": env})
	if got := ansible("view", "--vault-password-file", "pw", "c.vault"); got != "s3cret value\n" { // view adds a newline
		t.Fatalf("ansible-vault view of our encrypt_string: %q", got)
	}
	theirs := ansible("encrypt_string", "--vault-password-file", "pw", "--name", "tok", "their value")
	write(t, dir, map[string]string{"hosts": "h1\n", "host_vars/h1.yml": theirs})
	swarmrunInv, code := swarmrun(t, dir, "inventory", "-i", "hosts", "--vault-password-file", "pw", "--list")
	if code != 0 || !strings.Contains(swarmrunInv, `"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n`) {
		t.Fatalf("inventory with ansible's encrypt_string: %d\n%s", code, swarmrunInv)
	}
}

// TestVaultPrompt: --ask-vault-pass and LABEL@prompt read the password
// from the terminal, or from standard input when there is none.
func TestVaultPrompt(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"pw": "typed pw\n", "s.yml": "s: 1\n"})
	if out, code := swarmrun(t, dir, "vault", "encrypt", "--vault-id", "dev@pw", "s.yml"); code != 0 {
		t.Fatalf("encrypt: %d\n%s", code, out)
	}
	for _, args := range [][]string{{"--ask-vault-pass"}, {"--vault-id", "dev@prompt"}, {"-J"}} {
		cmd := exec.Command(bin, append(append([]string{"vault", "view"}, args...), "s.yml")...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader("typed pw\n")
		out, err := cmd.Output()
		if err != nil || string(out) != "s: 1\n" {
			t.Errorf("view %v: %q %v", args, out, err)
		}
	}
	cmd := exec.Command(bin, "vault", "view", "--ask-vault-pass", "s.yml")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("wrong\n")
	if out, err := cmd.CombinedOutput(); err == nil || strings.Contains(string(out), "s: 1") {
		t.Errorf("a wrong password opened it: %s", out)
	}
}
