package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// labINI is an inventory as `swarmrun lab up` writes it (runtime/lab/lab.go).
const labINI = `# swarmrun lab 7 (/var/lib/x), written by ` + "`swarmrun lab up`" + `
[managers]
h1 ansible_host=198.18.7.11 ansible_user=root ansible_ssh_private_key_file=/var/lib/x/id_ed25519

[workers]
h2 ansible_host=198.18.7.12 ansible_user=root ansible_ssh_private_key_file=/var/lib/x/id_ed25519
h3 ansible_host=198.18.7.13 ansible_user=root ansible_ssh_private_key_file=/var/lib/x/id_ed25519

[all:vars]
ansible_ssh_common_args='-o UserKnownHostsFile=/var/lib/x/known_hosts -o StrictHostKeyChecking=yes'
swarmrun_known_hosts_file=/var/lib/x/known_hosts
swarm_images=['/var/lib/x/it''s.tar']
`

// A subset inventory reads back (with inventory.Load, as both tools read
// it) to the same hosts and variables as the lab's.
func TestSubsetInventory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory")
	os.WriteFile(path, []byte(labINI), 0o644)
	inv, err := loadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 3 || inv.Hosts[1].addr() != "198.18.7.12" || inv.Hosts[1].Vars["ansible_user"] != "root" {
		t.Fatalf("hosts %+v", inv.Hosts)
	}
	if inv.AllVars["ansible_ssh_common_args"] != "-o UserKnownHostsFile=/var/lib/x/known_hosts -o StrictHostKeyChecking=yes" {
		t.Errorf("all vars %v", inv.AllVars)
	}
	sub := filepath.Join(dir, "inventory-2")
	if err := inv.writeSubset(sub, 2); err != nil {
		t.Fatal(err)
	}
	got, err := loadInventory(sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Hosts) != 2 {
		t.Fatalf("subset has %d hosts", len(got.Hosts))
	}
	for i, h := range got.Hosts {
		if h.Name != inv.Hosts[i].Name || !reflect.DeepEqual(h.Vars, inv.Hosts[i].Vars) {
			t.Errorf("host %d: %+v, want %+v", i, h, inv.Hosts[i])
		}
	}
	if !reflect.DeepEqual(got.AllVars, inv.AllVars) {
		t.Errorf("all vars %v, want %v", got.AllVars, inv.AllVars)
	}
	p, err := newSSHPool(got)
	if err == nil || p != nil {
		// known_hosts is named but absent here: the pool found its name.
		t.Fatalf("pool %v, err %v", p, err)
	}
	if !os.IsNotExist(err) {
		t.Errorf("want the known_hosts file not found, got %v", err)
	}
}
