package inventory

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOracleSources: several -i, directories, TOML, host lists and the
// playbook directory's group_vars/host_vars read as ansible-inventory reads
// them; floats print exactly as it prints them.
func TestOracleSources(t *testing.T) {
	bin := needAnsible(t, "ansible-inventory")
	src := func(p string) string { return abs(t, filepath.Join("sources", p)) }
	cases := []struct {
		name    string
		sources []string
	}{
		{"two -i", []string{src("multi/a.ini"), src("multi/b.yml")}},
		{"two -i reversed", []string{src("multi/b.yml"), src("multi/a.ini")}},
		{"directory", []string{src("invdir")}},
		{"toml", []string{src("hosts.toml")}},
		{"host list", []string{"h1,h2:2222,[::1]:22,"}},
		{"dir + file", []string{src("invdir"), src("multi/b.yml")}},
	}
	var cmds [][]string
	for _, c := range cases {
		argv := []string{bin, "--list"}
		for _, s := range c.sources {
			argv = append(argv, "-i", s)
		}
		cmds = append(cmds, argv)
	}
	for _, f := range []string{"floats.yml", "floats_ini"} {
		cmds = append(cmds, []string{bin, "-i", src(f), "--list"})
	}
	outs := runAll(t, cmds)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, err := LoadSources(c.sources, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := inv.ListJSON()
			if err != nil {
				t.Fatal(err)
			}
			compareList(t, got, []byte(outs[i]))
			if strings.Contains(string(got), "should_not_appear") {
				t.Error("a .ini file of an inventory directory was read")
			}
		})
	}
	for j, f := range []string{"floats.yml", "floats_ini"} {
		inv, err := LoadSources([]string{src(f)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := inv.ListJSON()
		if want := strings.TrimSpace(outs[len(cases)+j]); string(got) != want {
			t.Errorf("%s: --list text differs\n got  %s\n want %s", f, got, want)
		}
	}
}

// TestOraclePlaybookDir: group_vars/host_vars of the working directory
// override the inventory's, for ansible-inventory as for swarmrun.
func TestOraclePlaybookDir(t *testing.T) {
	bin := needAnsible(t, "ansible-inventory")
	pb := abs(t, "sources/pbdir")
	cfg := filepath.Join(t.TempDir(), "ansible.cfg")
	os.WriteFile(cfg, nil, 0o644)
	cmd := exec.Command(bin, "-i", abs(t, "sources/invdir"), "--list")
	cmd.Dir = pb
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+cfg)
	want, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := LoadSources([]string{abs(t, "sources/invdir")}, Options{PlaybookDir: pb})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := inv.ListJSON()
	compareList(t, got, want)
	if v := inv.Host("a1").Vars; v["hv"] != "from_playbook" || v["level"] != "playbook" {
		t.Errorf("a1: %v", v)
	}
}
