package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The oracle tests compare this package with Ansible itself. CI installs
// Debian's ansible; SWARMRUN_SKIP_ANSIBLE=1 skips them on machines that
// cannot.

// oracleCorpus lists the inventories under testdata/inventory that must
// read exactly as ansible-inventory reads them.
var oracleCorpus = []string{
	"basic.ini",
	"ranges.ini",
	"quoting.ini",
	"children.ini",
	"priority.ini",
	"basic.yml",
	"nested.yaml",
	"noext",
	"vardirs/hosts",
	"yamlvars/inventory.yml",
	"edge.ini",
	"edge.yml",
}

const corpusDir = "../testdata/inventory"

func needAnsible(t *testing.T, tool string) string {
	t.Helper()
	if os.Getenv("SWARMRUN_SKIP_ANSIBLE") == "1" {
		t.Skip("SWARMRUN_SKIP_ANSIBLE=1")
	}
	if testing.Short() {
		t.Skip("-short: the Ansible oracle takes tens of seconds (make oracle runs it)")
	}
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found on PATH: install ansible (apt-get install -y ansible), or set SWARMRUN_SKIP_ANSIBLE=1 to skip the Ansible oracle tests", tool)
	}
	return path
}

// runAll runs the commands in parallel (Ansible takes most of a second to
// start) in an empty directory with an empty config, so that neither a
// user's ansible.cfg nor playbook-relative group_vars can leak in.
func runAll(t *testing.T, cmds [][]string) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, argv := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(),
				"ANSIBLE_CONFIG="+cfg,
				"ANSIBLE_HOME="+filepath.Join(dir, "home"),
				"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"),
				"ANSIBLE_NOCOLOR=1",
			)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
			}
			out[i] = stdout.String()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestOracleList(t *testing.T) {
	bin := needAnsible(t, "ansible-inventory")
	t.Parallel()
	extraFile := filepath.Join(t.TempDir(), "extra.yml")
	if err := os.WriteFile(extraFile, []byte("from_file: {a: 1}\nntp_server: file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name  string
		file  string
		extra []string
	}
	var cases []tc
	for _, f := range oracleCorpus {
		cases = append(cases, tc{name: f, file: f})
	}
	// Extra vars override everything, including host_vars files.
	cases = append(cases,
		tc{name: "basic.ini+extra", file: "basic.ini", extra: []string{"ansible_user=root level=extra", "@" + extraFile, `{"json": [1, true]}`}},
		tc{name: "vardirs+extra", file: "vardirs/hosts", extra: []string{"conflict='extra wins'"}},
	)
	var cmds [][]string
	for _, c := range cases {
		argv := []string{bin, "-i", abs(t, c.file), "--list"}
		for _, e := range c.extra {
			argv = append(argv, "-e", e)
		}
		cmds = append(cmds, argv)
	}
	outs := runAll(t, cmds)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, err := Load(filepath.Join(corpusDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if c.extra != nil {
				ev, err := ParseExtraVars(c.extra)
				if err != nil {
					t.Fatal(err)
				}
				inv.SetExtraVars(ev)
			}
			got, err := inv.ListJSON()
			if err != nil {
				t.Fatal(err)
			}
			compareList(t, got, []byte(outs[i]))
		})
	}
}

func abs(t *testing.T, file string) string {
	p, err := filepath.Abs(filepath.Join(corpusDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// compareList checks group membership and children (in order) and every
// host's merged variables, reporting each difference.
func compareList(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("ListJSON is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("ansible-inventory output is not JSON: %v\n%s", err, want)
	}
	gm, _ := g["_meta"].(map[string]any)
	wm, _ := w["_meta"].(map[string]any)
	delete(g, "_meta")
	delete(w, "_meta")
	for _, k := range unionKeys(g, w) {
		if !reflect.DeepEqual(g[k], w[k]) {
			t.Errorf("group %s:\n got  %v\n want %v", k, g[k], w[k])
		}
	}
	gh, _ := gm["hostvars"].(map[string]any)
	wh, _ := wm["hostvars"].(map[string]any)
	for _, h := range unionKeys(gh, wh) {
		gv, _ := gh[h].(map[string]any)
		wv, _ := wh[h].(map[string]any)
		for _, k := range unionKeys(gv, wv) {
			if !reflect.DeepEqual(gv[k], wv[k]) {
				t.Errorf("hostvars[%s][%s]: got %#v, want %#v", h, k, gv[k], wv[k])
			}
		}
		if _, ok := gh[h]; ok != (wh[h] != nil) {
			t.Errorf("hostvars[%s] present=%v, ansible says %v", h, ok, wh[h] != nil)
		}
	}
	if t.Failed() {
		t.Logf("ansible-inventory --list:\n%s", want)
	}
}

func unionKeys(a, b map[string]any) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func TestOracleGraph(t *testing.T) {
	bin := needAnsible(t, "ansible-inventory")
	t.Parallel()
	// Only inventories whose graph order Ansible fixes: it walks
	// grandchildren through Python sets, so deeper trees may print in
	// any order.
	files := []string{"ranges.ini", "quoting.ini", "basic.ini", "vardirs/hosts"}
	var cmds [][]string
	for _, f := range files {
		cmds = append(cmds, []string{bin, "-i", abs(t, f), "--graph"})
	}
	outs := runAll(t, cmds)
	for i, f := range files {
		inv, err := Load(filepath.Join(corpusDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := inv.Graph(); got != outs[i] {
			t.Errorf("%s: Graph() =\n%s\nansible-inventory --graph =\n%s", f, got, outs[i])
		}
	}
}

func TestOraclePatterns(t *testing.T) {
	bin := needAnsible(t, "ansible")
	t.Parallel()
	type tc struct {
		file, pattern string
		unordered     bool // Ansible's order depends on Python set iteration
	}
	cases := []tc{
		{"ranges.ini", "all", false},
		{"ranges.ini", "web[2:4]", false},
		{"ranges.ini", "web[-1]", false},
		{"ranges.ini", "web:db:!web0*", false},
		{"ranges.ini", "~(web|db)-?[0-9a]", false},
		{"ranges.ini", "*[0]", false},
		{"ranges.ini", "odd,grid[1:],ips:&10.*", false},
		{"ranges.ini", "!web", false},
		{"ranges.ini", "192.168.1.1?", false},
		{"basic.ini", "swarm:!managers[0]", true},
		{"basic.ini", "workers:&managers", false},
		{"basic.ini", "ungrouped", false},
		{"basic.ini", "manager-*", false},
		{"basic.ini", "nosuchgroup", false},
		{"basic.ini", "manager-[12]", false},
		{"basic.ini", "manager-[13a]", false},
		{"basic.ini", "~(bastion|worker)", false},
		{"children.ini", "europe:&berlin", false},
		{"children.ini", "europe:!paris:!nyc", false},
		{"children.ini", "datacenter:!paris", true},
		{"children.ini", "p*", false},
		{"priority.ini", "alpha[1],beta[-1],gamma,deeper", false},
		{"basic.yml", "all:!swarm", false},
		{"nested.yaml", "monitored[0:1]", false},
		{"nested.yaml", "app:cache", false},
		{"edge.ini", "web", false},
		{"edge.ini", "db.primary:web-servers[-1]", false},
		{"edge.ini", "all:!1numeric:!extras", false},
		{"edge.yml", "g1", false},
		{"edge.yml", "ungrouped:g4:&direct*", false},
	}
	var cmds [][]string
	for _, c := range cases {
		cmds = append(cmds, []string{bin, "-i", abs(t, c.file), c.pattern, "--list-hosts"})
	}
	outs := runAll(t, cmds)
	for i, c := range cases {
		want := parseListHosts(outs[i])
		inv, err := Load(filepath.Join(corpusDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		hs, err := inv.Match(c.pattern)
		if err != nil {
			t.Errorf("%s %q: %v", c.file, c.pattern, err)
			continue
		}
		got := names(hs)
		if c.unordered {
			got, want = sorted(got), sorted(want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %q:\n got  %q\n want %q", c.file, c.pattern, got, want)
		}
	}
}

// parseListHosts reads "  hosts (N):\n    a\n    b\n".
func parseListHosts(out string) []string {
	hosts := []string{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "    ") {
			hosts = append(hosts, strings.TrimSpace(line))
		}
	}
	return hosts
}

func names(hs []*Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}
