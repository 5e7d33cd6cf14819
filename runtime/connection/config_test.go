package connection

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestFromVars(t *testing.T) {
	home := isolate(t)
	t.Setenv("USER", "deploy")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(`
Host web1
  HostName 10.0.0.1
  User admin
  Port 2200
  IdentityFile ~/.ssh/web_%h
  ProxyJump bastion
  UserKnownHostsFile ~/.ssh/kh_web
Host *
  User fallback
`), 0o600)

	// ssh_config fills what nothing else sets.
	c := FromVars("web1", nil, Config{})
	want := Config{Name: "web1", Host: "10.0.0.1", Port: 2200, User: "admin",
		KeyFiles: []string{filepath.Join(home, ".ssh", "web_web1")}, ProxyJump: "bastion",
		KnownHostsFile: filepath.Join(home, ".ssh", "kh_web"), HostKeyChecking: Strict,
		ConnectTimeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("ssh_config only:\n got %+v\nwant %+v", c, want)
	}

	// CLI flags beat ssh_config; inventory vars beat both.
	base := Config{User: "cli", Port: 22, BecomePassword: "b"}
	c = FromVars("web1", map[string]any{"ansible_port": "2222"}, base)
	if c.User != "cli" || c.Port != 2222 || c.Host != "10.0.0.1" || c.BecomePassword != "b" {
		t.Errorf("precedence: %+v", c)
	}
	c = FromVars("web1", map[string]any{
		"ansible_host": "192.0.2.5", "ansible_user": "inv", "ansible_port": 2022,
		"ansible_ssh_private_key_file": "~/k", "ansible_ssh_pass": "pw",
		"ansible_become_password": "bp",
		"ansible_ssh_common_args": `-o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=/tmp/kh" -J jump@j:2`,
	}, base)
	if c.Host != "192.0.2.5" || c.User != "inv" || c.Port != 2022 || c.Password != "pw" || c.BecomePassword != "bp" ||
		!reflect.DeepEqual(c.KeyFiles, []string{filepath.Join(home, "k")}) ||
		c.HostKeyChecking != AcceptNew || c.KnownHostsFile != "/tmp/kh" || c.ProxyJump != "jump@j:2" {
		t.Errorf("vars: %+v", c)
	}

	// Patterns match ansible_host when it is set, as with Ansible's ssh.
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host 198.18.0.*\n  User lab\n  Port 2022\n"), 0o600)
	sshConfigCache.Lock()
	sshConfigCache.m = nil
	sshConfigCache.Unlock()
	c = FromVars("node1", map[string]any{"ansible_host": "198.18.0.11"}, Config{})
	if c.User != "lab" || c.Port != 2022 {
		t.Errorf("ansible_host patterns: %+v", c)
	}

	// Defaults: the host is its name, the user $USER.
	c = FromVars("db1", map[string]any{"ansible_connection": "local"}, Config{})
	if !c.Local || c.Host != "db1" || c.Port != 22 || c.User != "deploy" {
		t.Errorf("defaults: %+v", c)
	}
	c = FromVars("db2", map[string]any{
		"ansible_ssh_common_args":   "-o StrictHostKeyChecking=no -o ProxyCommand='ssh -W %h:%p -q ops@bastion -p 2201'",
		"swarmrun_known_hosts_file": "/etc/kh",
	}, Config{})
	if c.User != "deploy" || c.HostKeyChecking != Off || c.ProxyJump != "ops@bastion:2201" || c.KnownHostsFile != "/etc/kh" {
		t.Errorf("common args: %+v", c)
	}
}

// ReadVars: the first of a variable's aliases wins, Ansible booleans are
// read as Ansible reads them, every password set is a secret.
func TestReadVars(t *testing.T) {
	home := isolate(t)
	v := ReadVars(map[string]any{
		"ansible_ssh_host": "10.0.0.9", "ansible_ssh_port": 2200, "ansible_ssh_user": "u",
		"ansible_ssh_private_key_file": "~/id", "ansible_become": "yes",
		"ansible_password": "p1", "ansible_ssh_pass": "p2", "ansible_sudo_pass": "p3",
		"ansible_host_key_checking": "False", "ansible_timeout": "7",
		"ansible_ssh_common_args": "-o A=b", "ansible_ssh_extra_args": "-p 2",
	})
	want := Vars{Host: "10.0.0.9", Port: 2200, User: "u", KeyFile: filepath.Join(home, "id"),
		Password: "p1", BecomePassword: "p3", Become: true, NoHostKeyCheck: true,
		Timeout: 7 * time.Second, SSHArgs: []string{"-o", "A=b", "-p", "2"},
		passwordsByName: []string{"p1", "p2", "p3"}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("ReadVars:\n got %+v\nwant %+v", v, want)
	}
	if v.Address("n") != "10.0.0.9" || ReadVars(nil).Address("n") != "n" {
		t.Error("Address")
	}
	v = ReadVars(map[string]any{"ansible_host": "a", "ansible_ssh_host": "b", "ansible_become": true})
	if v.Host != "a" || !v.Become || ReadVars(map[string]any{"ansible_become": "no"}).Become {
		t.Errorf("precedence, become: %+v", v)
	}
}
