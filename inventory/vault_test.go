package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/vault"
)

var testSecret = vault.Secret{ID: "default", Password: []byte("pw-test")}

func writeVault(t *testing.T, path, plain string) {
	t.Helper()
	env, err := vault.Encrypt([]byte(plain), testSecret)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, env, 0o600); err != nil {
		t.Fatal(err)
	}
}

func inlineVault(t *testing.T, plain string) string {
	env, err := vault.Encrypt([]byte(plain), testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return "!vault |\n      " + strings.ReplaceAll(strings.TrimSpace(string(env)), "\n", "\n      ")
}

func TestVaultInventory(t *testing.T) {
	dir := t.TempDir()
	writeVault(t, filepath.Join(dir, "hosts"), "[web]\nh1 ansible_password=ini-secret-pw\n[db]\nh2\n")
	writeVault(t, filepath.Join(dir, "group_vars/web/vault.yml"), "db_password: group-secret\nlist: [list-secret]\n")
	os.WriteFile(filepath.Join(dir, "group_vars/web/plain.yml"), []byte("plain: visible\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "host_vars"), 0o755)
	os.WriteFile(filepath.Join(dir, "host_vars/h2.yml"), []byte("token: "+inlineVault(t, "inline-secret")+"\nport: 5432\n"), 0o644)
	writeVault(t, filepath.Join(dir, "extra.yml"), "from_extra: extra-secret\n")

	if _, err := Load(filepath.Join(dir, "hosts")); err == nil || !strings.Contains(err.Error(), "hosts: found vault-encrypted data but no vault password") {
		t.Fatalf("without a password: %v", err)
	}
	v := NewVault([]vault.Secret{{ID: "other", Password: []byte("wrong")}, testSecret})
	inv, err := LoadWith(filepath.Join(dir, "hosts"), Options{Vault: v})
	if err != nil {
		t.Fatal(err)
	}
	extra, err := ParseExtraVarsWith([]string{"@" + filepath.Join(dir, "extra.yml")}, v)
	if err != nil {
		t.Fatal(err)
	}
	inv.SetExtraVars(extra)
	h1, h2 := inv.Host("h1").Vars, inv.Host("h2").Vars
	if h1["ansible_password"] != "ini-secret-pw" || h1["db_password"] != "group-secret" || h1["plain"] != "visible" || h1["from_extra"] != "extra-secret" {
		t.Errorf("h1 vars: %v", h1)
	}
	if h2["token"] != "inline-secret" || h2["port"] != 5432 {
		t.Errorf("h2 vars: %v", h2)
	}
	want := []string{"extra-secret", "group-secret", "ini-secret-pw", "inline-secret", "list-secret"}
	if got := inv.Secrets(); !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets() = %v, want %v", got, want)
	}
	list, _ := inv.ListJSON()
	for _, s := range want {
		if strings.Contains(string(list), s) {
			t.Errorf("--list shows the secret %q", s)
		}
	}
	if !strings.Contains(string(list), `"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n`) || !strings.Contains(string(list), "visible") {
		t.Errorf("--list:\n%s", list)
	}
}

// TestOracleVaultInventory: files written by ansible-vault read as
// ansible-inventory reads them (it prints the decrypted values with --host).
func TestOracleVaultInventory(t *testing.T) {
	bin := needAnsible(t, "ansible-inventory")
	tool := needAnsible(t, "ansible-vault")
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("oracle pw\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "hosts.yml"), []byte("all:\n  children:\n    web:\n      hosts:\n        h1: {port_s: '80'}\n"), 0o644)
	gv := filepath.Join(dir, "group_vars", "web.yml")
	os.MkdirAll(filepath.Dir(gv), 0o755)
	os.WriteFile(gv, []byte("a: secret-a\nn: 3\nl: [x, {y: z}]\n"), 0o644)
	hv := filepath.Join(dir, "host_vars", "h1.yml")
	os.MkdirAll(filepath.Dir(hv), 0o755)
	out := runAll(t, [][]string{
		{tool, "encrypt", "--vault-id", "dev@" + pw, gv},
		{tool, "encrypt_string", "--vault-id", pw, "--name", "tok", "inline value"},
	})
	os.WriteFile(hv, []byte(out[1]), 0o644)
	want := runAll(t, [][]string{{bin, "-i", filepath.Join(dir, "hosts.yml"), "--vault-password-file", pw, "--host", "h1"}})[0]
	secrets, err := vault.Sources{PasswordFiles: []string{pw}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := LoadWith(filepath.Join(dir, "hosts.yml"), Options{Vault: NewVault(secrets)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := inv.HostJSON("h1")
	// ansible-inventory shows the inline value as its envelope, the
	// file's values in clear; swarmrun masks the latter.
	masked := strings.NewReplacer(`"secret-a"`, `"********"`, `"x"`, `"********"`, `"z"`, `"********"`).Replace(want)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(masked), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("--host h1:\n got  %s\n want %s", got, masked)
	}
	if v := inv.Host("h1").Vars; v["a"] != "secret-a" || v["tok"] != "inline value" || v["n"] != 3 {
		t.Errorf("decrypted vars: %v", v)
	}
}
