package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/testutil"
	"github.com/swarmrun/swarmrun/vault"
)

func TestAnsibleCfg(t *testing.T) {
	dir := t.TempDir()
	env, _ := vault.Encrypt([]byte("from_vault: opened\n"), vault.Secret{ID: "default", Password: []byte("cfg pw")})
	write(t, dir, map[string]string{
		"ansible.cfg": "[defaults]\ninventory = inv.ini\nremote_user: cfguser\nforks=7\nhost_key_checking = False\nvault_password_file = pw\n" +
			"; comment\n[privilege_escalation]\nbecome = yes\nbecome_user = app\n[ssh_connection]\nssh_args = -o ControlMaster=auto\n  -o ControlPersist=60s\n",
		"inv.ini":              "h1 ansible_host=192.0.2.1\n",
		"pw":                   "cfg pw\n",
		"group_vars/all.yml":   string(env),
		"other/ansible.cfg":    "[defaults]\nforks = 3\n",
		"other/inventory.yaml": "all: {hosts: {x: {}}}\n",
	})
	t.Setenv("ANSIBLE_CONFIG", "")
	out, code := swarmrun(t, dir, "config", "-u", "flaguser")
	cfg := filepath.Join(dir, "ansible.cfg")
	for _, want := range []string{
		"config file: " + cfg,
		`inventory\s+` + regexp.QuoteMeta(filepath.Join(dir, "inv.ini")) + `\s+` + regexp.QuoteMeta(cfg) + ` \[defaults\]`,
		`remote_user\s+flaguser\s+--user`,
		`forks\s+7\s+` + regexp.QuoteMeta(cfg),
		`host_key_checking\s+off\s+`,
		`become\s+true\s+` + regexp.QuoteMeta(cfg) + ` \[privilege_escalation\]`,
		`become_user\s+app\s+`,
		`timeout\s+0\s+default`,
		`ssh_args\s+-o ControlMaster=auto\n-o ControlPersist=60s`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("swarmrun config lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	t.Setenv("ANSIBLE_FORKS", "9")
	if out, _ := swarmrun(t, dir, "config"); !regexp.MustCompile(`forks\s+9\s+\$ANSIBLE_FORKS`).MatchString(out) {
		t.Errorf("ANSIBLE_FORKS does not win over ansible.cfg:\n%s", out)
	}
	// The inventory and the vault password come from ansible.cfg.
	out, code = swarmrun(t, dir, "inventory", "--host", "h1")
	if code != 0 || !strings.Contains(out, `"from_vault": "********"`) {
		t.Errorf("inventory from ansible.cfg: exit %d\n%s", code, out)
	}
	// Paths in ansible.cfg are relative to its directory, not the working one.
	t.Setenv("ANSIBLE_FORKS", "")
	os.Unsetenv("ANSIBLE_FORKS")
	t.Setenv("ANSIBLE_CONFIG", cfg)
	out, code = swarmrun(t, filepath.Join(dir, "other"), "inventory", "--host", "h1")
	if code != 0 || !strings.Contains(out, `"from_vault": "********"`) {
		t.Errorf("inventory from ANSIBLE_CONFIG in another directory: exit %d\n%s", code, out)
	}
	t.Setenv("ANSIBLE_FORKS", "9")
	// ANSIBLE_CONFIG wins over ./ansible.cfg.
	t.Setenv("ANSIBLE_CONFIG", filepath.Join(dir, "other", "ansible.cfg"))
	if out, _ := swarmrun(t, dir, "config"); !regexp.MustCompile(`forks\s+9\s+\$ANSIBLE_FORKS`).MatchString(out) || !strings.Contains(out, "other/ansible.cfg") {
		t.Errorf("ANSIBLE_CONFIG:\n%s", out)
	}
}

// TestOracleAnsibleCfg: Ansible reads the same values from the same file.
func TestOracleAnsibleCfg(t *testing.T) {
	tool := testutil.AnsibleOracle(t, "ansible-config")
	dir := t.TempDir()
	write(t, dir, map[string]string{"ansible.cfg": "[defaults]\nforks: 12\nremote_user = deploy\ntimeout = 33\n[privilege_escalation]\nbecome_user=app\n"})
	t.Setenv("ANSIBLE_CONFIG", "")
	cmd := exec.Command(tool, "dump", "--only-changed")
	cmd.Dir = dir
	theirs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-config: %v\n%s", err, theirs)
	}
	ours, _ := swarmrun(t, dir, "config")
	pairs := map[string]string{"DEFAULT_FORKS": "forks", "DEFAULT_REMOTE_USER": "remote_user", "DEFAULT_TIMEOUT": "timeout", "DEFAULT_BECOME_USER": "become_user"}
	for a, s := range pairs {
		m := regexp.MustCompile(a + `\(.*ansible.cfg\) = (\S+)`).FindStringSubmatch(string(theirs))
		if m == nil {
			t.Fatalf("ansible-config dump lacks %s:\n%s", a, theirs)
		}
		if !regexp.MustCompile(`(?m)^` + s + `\s+` + regexp.QuoteMeta(m[1]) + `\s+\S*ansible.cfg`).MatchString(ours) {
			t.Errorf("%s: ansible reads %s, swarmrun config says:\n%s", s, m[1], ours)
		}
	}
}
