package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/testutil"
)

func TestRoundTripAndLabels(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 1000} {
		pt := bytes.Repeat([]byte("x"), n)
		env, err := Encrypt(pt, Secret{ID: "dev", Password: []byte("pw")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(env), "$ANSIBLE_VAULT;1.2;AES256;dev\n") || !strings.HasSuffix(string(env), "\n") {
			t.Fatalf("header/trailer: %q", env)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(env)), "\n")[1:] {
			if len(l) > 80 {
				t.Fatalf("line longer than 80: %d", len(l))
			}
		}
		// The matching label is tried first, but any secret that opens it works.
		got, id, err := Decrypt(env, []Secret{{ID: "prod", Password: []byte("nope")}, {ID: "other", Password: []byte("pw")}})
		if err != nil || !bytes.Equal(got, pt) || id != "other" {
			t.Fatalf("n=%d: %q %q %v", n, got, id, err)
		}
	}
	env, _ := Encrypt([]byte("s"), Secret{ID: DefaultID, Password: []byte("pw")})
	if !strings.HasPrefix(string(env), "$ANSIBLE_VAULT;1.1;AES256\n") {
		t.Fatalf("default label must make a 1.1 envelope: %q", env)
	}
	if _, _, err := Decrypt(env, []Secret{{ID: DefaultID, Password: []byte("wrong")}}); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, err := Decrypt(env, nil); err != ErrNoSecret {
		t.Fatalf("no secret: %v", err)
	}
	tampered := bytes.Replace(env, []byte("\n3"), []byte("\n4"), 1)
	if _, _, err := Decrypt(tampered, []Secret{{ID: DefaultID, Password: []byte("pw")}}); err == nil {
		t.Fatal("a tampered envelope decrypted")
	}
}

func TestSources(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "pw")
	os.WriteFile(plain, []byte("  secret one \n"), 0o600)
	script := filepath.Join(dir, "pw-client.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"from script $2\"\n"), 0o700)
	s := Sources{
		IDs:           []string{"dev@" + plain, "prod@" + script, "prod@prompt"},
		PasswordFiles: []string{plain},
		Prompt:        func(label string) ([]byte, error) { return []byte("typed for " + label + "\n"), nil },
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := []Secret{{"dev", []byte("secret one")}, {"prod", []byte("from script prod")}, {"prod", []byte("typed for prod")}, {"default", []byte("secret one")}}
	if len(got) != len(want) {
		t.Fatalf("got %d secrets", len(got))
	}
	for i := range want {
		if got[i].ID != want[i].ID || string(got[i].Password) != string(want[i].Password) {
			t.Errorf("secret %d: %s %q, want %s %q", i, got[i].ID, got[i].Password, want[i].ID, want[i].Password)
		}
	}
	if _, err := (Sources{IDs: []string{"x@" + filepath.Join(dir, "missing")}}).Load(); err == nil {
		t.Error("a missing password file is an error")
	}
}

// TestOracleVault checks both directions against ansible-vault itself.
func TestOracleVault(t *testing.T) {
	dir := t.TempDir()
	ansible := testutil.AnsibleVault(t, dir)
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("correct horse\n"), 0o600)
	secret := []Secret{{ID: "dev", Password: []byte("correct horse")}}
	plaintext := "db_password: s3cr3t-ü\nport: 5432\n"
	for _, id := range []string{"", "dev@"} {
		// ansible-vault writes, we read.
		f := filepath.Join(dir, "theirs.yml")
		os.WriteFile(f, []byte(plaintext), 0o600)
		ansible("encrypt", "--vault-id", id+pwFile, f)
		data, _ := os.ReadFile(f)
		got, _, err := Decrypt(data, secret)
		if err != nil || string(got) != plaintext {
			t.Fatalf("reading ansible-vault's file (%q): %q %v", id, got, err)
		}
		// We write, ansible-vault reads.
		label := strings.TrimSuffix(id, "@")
		mine, err := Encrypt([]byte(plaintext), Secret{ID: label, Password: []byte("correct horse")})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(f, mine, 0o600)
		if out := ansible("view", "--vault-id", id+pwFile, f); out != plaintext {
			t.Fatalf("ansible-vault view of our file: %q", out)
		}
	}
}
