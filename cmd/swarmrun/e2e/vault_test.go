//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/runtime/testutil"
)

// TestVaultSite: the example's group_vars/all.yml, encrypted by the real
// ansible-vault, and a vault-encrypted secret file drive the unchanged
// site.star; without the password the run stops before touching a host,
// naming the file; no decrypted value is printed.
func TestVaultSite(t *testing.T) {
	vaultTool, err := exec.LookPath("ansible-vault")
	if err != nil {
		t.Fatal("ansible-vault not found (apt-get install -y ansible)")
	}
	l := startLab(t, 40, 2, true)
	work := t.TempDir()
	pb := filepath.Join(work, "pb")
	if out, err := exec.Command("cp", "-r", playbook(t), pb).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(pb, "secrets"))
	inv := filepath.Join(work, "inv")
	os.MkdirAll(filepath.Join(inv, "group_vars"), 0o755)
	os.MkdirAll(filepath.Join(pb, "secrets"), 0o700)
	hosts, _ := os.ReadFile(l.Inventory)
	example, _ := os.ReadFile(playbook(t, "inventory", "group_vars", "all.yml"))
	const secretValue = "vaulted-api-key-4711"
	files := map[string]string{
		filepath.Join(inv, "hosts"):                 string(hosts),
		filepath.Join(inv, "group_vars", "all.yml"): string(example),
		filepath.Join(pb, "secrets", "web_api_key"): secretValue,
		filepath.Join(work, "pw"):                   "e2e vault password\n",
		filepath.Join(work, "ansible.cfg"):          "",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ansible := func(args ...string) {
		cmd := exec.Command(vaultTool, args...)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(work, "ansible.cfg"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ansible-vault %v: %v\n%s", args, err, out)
		}
	}
	pw := filepath.Join(work, "pw")
	ansible("encrypt", "--vault-id", "prod@"+pw, filepath.Join(inv, "group_vars", "all.yml"))
	ansible("encrypt", "--vault-password-file", pw, filepath.Join(pb, "secrets", "web_api_key"))
	site := filepath.Join(pb, "site.star")
	if a, b := testutil.ReadFile(t, site), testutil.ReadFile(t, playbook(t, "site.star")); a != b {
		t.Fatal("site.star copy differs")
	}

	noPw := parsePlay(l.Swarmrun("play", site, "-i", filepath.Join(inv, "hosts"), "--output", "json"))
	if noPw.Err == nil || len(noPw.Results) != 0 || !strings.Contains(noPw.Out, "group_vars/all.yml: found vault-encrypted data but no vault password") {
		t.Fatalf("without a vault password: %v\n%s", noPw.Err, noPw.Out)
	}

	t0 := time.Now()
	run := parsePlay(l.Swarmrun("play", site, "-i", filepath.Join(inv, "hosts"), "--output", "json", "--vault-id", "prod@"+pw))
	if run.Err != nil {
		t.Fatalf("play with --vault-id: %v\n%s", run.Err, run.Out)
	}
	t.Logf("site.star with vaulted group_vars: %d changes in %s", len(run.With("changed")), time.Since(t0).Round(time.Millisecond))
	for _, leak := range []string{secretValue, "10.210.0.0/24", "web stack"} {
		if strings.Contains(run.Out, leak) {
			t.Errorf("decrypted value %q printed", leak)
		}
	}
	if !strings.Contains(run.Out, "********") {
		t.Errorf("no masked value in the output: the leak check above proves nothing")
	}
	// The vaulted settings took effect: the example's network and firewall rule.
	if out := l.MustSSH(t, "h1", "docker network inspect app --format '{{(index .IPAM.Config 0).Subnet}}'"); trim(out) != "10.210.0.0/24" {
		t.Errorf("network app subnet = %q", out)
	}
	if out := l.MustSSH(t, "h2", "ufw status"); !strings.Contains(out, "8080/tcp") {
		t.Errorf("ufw status on h2 lacks the vaulted 8080/tcp rule:\n%s", out)
	}
	eventually(t, 90*time.Second, "web stack answering with its vaulted secret", func() error {
		_, err := probeWeb(l)
		return err
	})

	// ANSIBLE_VAULT_PASSWORD_FILE works too, and nothing changes.
	cmd := exec.Command(l.Bin, "play", site, "-i", filepath.Join(inv, "hosts"), "--output", "json")
	cmd.Env = append(os.Environ(), "ANSIBLE_VAULT_PASSWORD_FILE="+pw)
	out, err := cmd.CombinedOutput()
	again := parsePlay(string(out), err)
	if again.Err != nil || len(again.With("changed")) != 0 {
		t.Errorf("second run (ANSIBLE_VAULT_PASSWORD_FILE): %v, changed %v\n%s", again.Err, again.With("changed"), again.Out)
	}
}
