package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func load(t *testing.T, file string) *Inventory {
	t.Helper()
	inv, err := Load(filepath.Join(corpusDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestPatterns(t *testing.T) {
	basic := load(t, "basic.ini")
	ranges := load(t, "ranges.ini")
	children := load(t, "children.ini")
	for _, c := range []struct {
		inv     *Inventory
		pattern string
		want    string // space-separated host names, in order
	}{
		{basic, "all", "bastion.example.com 10.0.0.5 manager-1 manager-2 manager-3 worker-1 worker-2"},
		{basic, "*", "bastion.example.com 10.0.0.5 manager-1 manager-2 manager-3 worker-1 worker-2"},
		{basic, "managers", "manager-1 manager-2 manager-3"},
		{basic, "managers:workers", "manager-1 manager-2 manager-3 worker-1 worker-2"},
		{basic, "workers,managers", "worker-1 worker-2 manager-3 manager-1 manager-2"},
		{basic, " workers , managers ", "worker-1 worker-2 manager-3 manager-1 manager-2"},
		{basic, "managers:&workers", "manager-3"},
		{basic, "&workers:managers", "manager-3"}, // & applies after plain terms, wherever it is
		{basic, "managers:!workers", "manager-1 manager-2"},
		{basic, "!managers", "bastion.example.com 10.0.0.5 worker-1 worker-2"},
		{basic, "all:!swarm", "bastion.example.com 10.0.0.5"},
		{basic, "managers[0]", "manager-1"},
		{basic, "managers[-1]", "manager-3"},
		{basic, "managers[1:]", "manager-2 manager-3"},
		{basic, "managers[0:1]", "manager-1 manager-2"},
		{basic, "managers[1-2]", "manager-2 manager-3"}, // old x-y form
		{basic, "managers[2:9]", "manager-3"},
		{basic, "managers[5:9]", ""},
		{basic, "manager-2", "manager-2"},
		{basic, "manager-2,manager-1", "manager-2 manager-1"},
		{basic, "manager-?", "manager-1 manager-2 manager-3"},
		{basic, "manager-[13a]", "manager-1 manager-3"},
		{basic, "manager-[12]", ""}, // [12] is a subscript of "manager-", like in Ansible
		{basic, "manager-[!12]", "manager-3"},
		{basic, "~manager-[23]", "manager-2 manager-3"},
		{basic, "~(bastion|worker)", "worker-1 worker-2 manager-3 bastion.example.com"}, // the group workers matches too
		{basic, "~.*-1$", "manager-1 worker-1"},
		{basic, "swa*", "manager-1 manager-2 manager-3 worker-1 worker-2"},
		{basic, "ungrouped", "bastion.example.com 10.0.0.5"},
		{basic, "10.0.0.5", "10.0.0.5"},
		{basic, "nosuchgroup", ""},
		{basic, "nosuch*:!all", ""},
		{basic, "managers:&nosuch", ""},
		{ranges, "web[01:03]", "web02 web03 web04"}, // a subscript, not a range
		{ranges, "web0[1-3]", ""},                   // a subscript of "web0", not a glob
		{ranges, "web0[1-3a]", "web01 web02 web03"}, // a glob
		{ranges, "odd", "x1 x3 x5 x7 x9"},
		{ranges, "*[0]", "web01"},
		{ranges, "grid", "node-1-a node-1-b node-2-a node-2-b rackA-n0 rackA-n1 rackC-n0 rackC-n1"},
		{ranges, "ips:&192.*", "192.168.1.10 192.168.1.11 192.168.1.12"},
		{children, "datacenter[0]", "p1"},
		{children, "europe:&berlin", "p2 b1"},
		{children, "europe:!paris:!nyc", "b1"},
		{children, "lonely", ""},
	} {
		hs, err := c.inv.Match(c.pattern)
		if err != nil {
			t.Errorf("Match(%q): %v", c.pattern, err)
			continue
		}
		if got := strings.Join(names(hs), " "); got != c.want {
			t.Errorf("Match(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	inv := load(t, "basic.ini")
	for _, p := range []string{"~[,managers", "managers:!", "&", "managers[7]", "managers[-4]", "~(a"} {
		if hs, err := inv.Match(p); err == nil {
			t.Errorf("Match(%q) = %v, want an error", p, names(hs))
		}
	}
}

func TestHostsAndVars(t *testing.T) {
	inv := load(t, "basic.ini")
	if got := strings.Join(names(inv.Hosts()), " "); got != "bastion.example.com 10.0.0.5 manager-1 manager-2 manager-3 worker-1 worker-2" {
		t.Errorf("Hosts() = %s", got)
	}
	if inv.Host("nope") != nil {
		t.Error("Host(nope) != nil")
	}
	m3 := inv.Host("manager-3")
	if want := []string{"all", "managers", "swarm", "workers"}; !reflect.DeepEqual(m3.Groups, want) {
		t.Errorf("manager-3 groups = %v, want %v", m3.Groups, want)
	}
	if got := inv.Host("bastion.example.com").Groups; !reflect.DeepEqual(got, []string{"all", "ungrouped"}) {
		t.Errorf("bastion groups = %v", got)
	}
	want := map[string]any{
		"ansible_host":                 "192.168.56.13",
		"ansible_port":                 2222,
		"ansible_user":                 "deploy",
		"ansible_connection":           "ssh",
		"ansible_ssh_private_key_file": "~/.ssh/swarm_ed25519",
		"docker_version":               28.5,
		"ntp_server":                   "pool.ntp.org",
	}
	if !reflect.DeepEqual(m3.Vars, want) {
		t.Errorf("manager-3 vars = %#v\nwant %#v", m3.Vars, want)
	}
	if got := inv.Host("worker-2").Vars["ansible_port"]; got != 2022 {
		t.Errorf("worker-2 port from host:port = %#v", got)
	}
	if got := inv.Host("manager-2").Vars["ansible_become"]; got != true {
		t.Errorf("ansible_become=True = %#v, want bool true", got)
	}
	for _, h := range inv.Hosts() {
		if h.Vars == nil {
			t.Errorf("%s: nil Vars", h.Name)
		}
	}

	inv.SetExtraVars(map[string]any{"ansible_user": "root", "new": 1})
	if v := inv.Host("manager-3").Vars; v["ansible_user"] != "root" || v["new"] != 1 || v["ansible_host"] != "192.168.56.13" {
		t.Errorf("after SetExtraVars: %v", v)
	}
	if hs, _ := inv.Match("managers[0]"); hs[0].Vars["ansible_user"] != "root" {
		t.Error("Match returns hosts without extra vars")
	}
	inv.SetExtraVars(nil)
	if inv.Host("manager-3").Vars["ansible_user"] != "deploy" {
		t.Error("SetExtraVars(nil) did not clear extra vars")
	}
}

func TestPrecedence(t *testing.T) {
	inv := load(t, "vardirs/hosts")
	check := func(host, key string, want any) {
		t.Helper()
		if got := inv.Host(host).Vars[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s.%s = %#v, want %#v", host, key, got, want)
		}
	}
	check("web1", "conflict", "host_vars_web1")    // host_vars file beats everything
	check("web2", "conflict", "group_vars_web_10") // db and web have the same depth: web comes later by name
	check("db1", "conflict", "group_vars_app")     // group_vars/db beats group_vars/app, but db.yml has no conflict key
	check("db1", "layer", "group_vars_app")        // group_vars file beats [app:vars]
	check("web2", "layer", "group_vars_app")       // a parent's group_vars file beats a child's [web:vars]
	check("web1", "web_list", []any{"c"})          // later file in group_vars/web/ wins, no deep merge
	check("db1", "db_engine", "mariadb")           // db.yml is found before db.json
	check("web1", "hidden", nil)                   // hidden files are skipped
	check("web1", "from_inventory", "host_vars_web1")
	check("web1", "json_var", map[string]any{"nested": []any{1, 2.5, nil, true}})
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name, content, want string
	}{
		{"hosts", "h1\n\n[web:foo]\nh2\n", "hosts:3: section [web:foo] has unknown type: foo"},
		{"hosts", "[web servers]\n", "hosts:1: invalid section entry"},
		{"hosts", "# c\nh1 novalue\n", "hosts:2: host h1: expected key=value host variable assignment (word 1 after the name has no '='; quote values with blanks)"},
		{"hosts", "h1 k=\"open\n", "hosts:1: error parsing host definition"},
		{"hosts", "[web]\nweb[01:1]\n", "hosts:2: bad host range [01:1]"},
		{"hosts", "[web]\nweb[a:3]\n", "hosts:2: bad host range [a:3]"},
		{"hosts", "[web]\nweb[5:1]\n", "hosts:2: bad host range [5:1]"},
		{"hosts", "[web]\nweb[1:5:0]\n", "hosts:2: bad host range [1:5:0]"},
		{"hosts", "[web]\nweb[1:2\n", "hosts:2: bad host range"},
		{"hosts", "[web]\nweb[1:2:3:4]\n", "hosts:2: bad host range"},
		{"hosts", "[web]\nweb1:\n", "hosts:2: invalid host pattern"},
		{"hosts", "[a:children]\nb\n", "hosts:2: section [a:children] includes undefined group: b"},
		{"hosts", "[a:vars]\nx=1\n", "hosts:1: section [a:vars] not valid for undefined group: a"},
		{"hosts", "[a]\n[a:vars]\nnovalue\n", "hosts:3: expected key=value in [a:vars]"},
		{"hosts", "[a]\n[b:children]\nx y\n", "hosts:3: expected group name"},
		{"hosts", "[a:children]\nb\n[b:children]\na\n", "hosts:4: adding group \"a\" as child to \"b\" creates a recursive dependency loop"},
		{"hosts", "[a]\n[a:vars]\nansible_group_priority=high\n", "hosts:3: ansible_group_priority"},
		{"inv.yml", "all:\n  hosts:\n    a: {x: [1, 2}\n", "inv.yml:3: did not find expected ',' or ']'"},
		{"inv.yml", "all:\n  hosts: [a, b]\n", "inv.yml:2: \"hosts\" of group all must be a mapping"},
		{"inv.yml", "all:\n  host:\n    a:\n", "inv.yml:2: unexpected key \"host\""},
		{"inv.yml", "all:\n  hosts:\n    a: 5\n", "inv.yml:3: variables of host a must be a mapping"},
		{"inv.yml", "all:\n  hosts:\n    42:\n", "inv.yml:3: host pattern 42 must be a string"},
		{"inv.yml", "all:\n  children:\n    g:\n      hosts:\n        web[3:1]:\n", "inv.yml:5: bad host range"},
		{"inv.yml", "- a\n- b\n", "inv.yml:1: YAML inventory must be a mapping"},
		{"inv.yml", "plugin: aws_ec2\n", "not a YAML inventory"},
		{"inv.yml", "", "empty YAML inventory"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil {
			t.Errorf("%q: no error, want %q", c.content, c.want)
			continue
		}
		if msg := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator)); !strings.Contains(msg, c.want) {
			t.Errorf("%q:\n got  %s\n want %s", c.content, msg, c.want)
		}
	}
}

func TestVarsFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hosts", "[web]\nw1\n")
	write("group_vars/web.yml", "a: 1\nb: [\n")
	_, err := Load(filepath.Join(dir, "hosts"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join("group_vars", "web.yml")+":3:") {
		t.Errorf("bad group_vars file: %v", err)
	}
	write("group_vars/web.yml", "- just\n- a list\n")
	_, err = Load(filepath.Join(dir, "hosts"))
	if err == nil || !strings.Contains(err.Error(), "expected a mapping") {
		t.Errorf("list in group_vars file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestParseExtraVars(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "vars.yml")
	os.WriteFile(yml, []byte("a: 1\nb: yes\nlist: [x]\n"), 0o644)
	js := filepath.Join(dir, "vars.json")
	os.WriteFile(js, []byte(`{"a": 2, "c": {"d": null}}`), 0o644)
	list := filepath.Join(dir, "list.yml")
	os.WriteFile(list, []byte("- 1\n"), 0o644)

	for _, c := range []struct {
		args []string
		want map[string]any
	}{
		{nil, map[string]any{}},
		{[]string{"k=v"}, map[string]any{"k": "v"}},
		{[]string{"k=v k2=v2", "n=1"}, map[string]any{"k": "v", "k2": "v2", "n": "1"}}, // key=value values are strings
		{[]string{`msg="hello world" other='a b' eq=x=y`}, map[string]any{"msg": "hello world", "other": "a b", "eq": "x=y"}},
		{[]string{`{"json": 1, "b": [true, null]}`}, map[string]any{"json": 1, "b": []any{true, nil}}},
		{[]string{"{a: yes}"}, map[string]any{"a": true}},
		{[]string{"@" + yml}, map[string]any{"a": 1, "b": true, "list": []any{"x"}}},
		{[]string{"@" + yml, "@" + js}, map[string]any{"a": 2, "b": true, "list": []any{"x"}, "c": map[string]any{"d": nil}}},
		{[]string{"@" + js, "a=3"}, map[string]any{"a": "3", "c": map[string]any{"d": nil}}},
		{[]string{""}, map[string]any{}},
	} {
		got, err := ParseExtraVars(c.args)
		if err != nil {
			t.Errorf("ParseExtraVars(%q): %v", c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseExtraVars(%q) = %#v, want %#v", c.args, got, c.want)
		}
	}
	for _, bad := range [][]string{
		{"novalue"},
		{"k='open"},
		{"@" + filepath.Join(dir, "missing.yml")},
		{"@" + list},
		{"[1, 2]"},
		{"{a: [}"},
		{"./vars.yml"},
	} {
		if got, err := ParseExtraVars(bad); err == nil {
			t.Errorf("ParseExtraVars(%q) = %v, want an error", bad, got)
		}
	}
}

func TestPyLiteral(t *testing.T) {
	for in, want := range map[string]any{
		"1": 1, "-5": -5, "+3": 3, "0x1F": 31, "0o17": 15, "0b101": 5, "1_000": 1000,
		"0123": "0123", "00": 0, "1__0": "1__0", "1_": "1_",
		"1.5": 1.5, "1e3": 1000.0, ".5": 0.5, "5.": 5.0, "1e-2": 0.01, "1j": "1j",
		"True": true, "False": false, "None": nil, "true": "true", "yes": "yes",
		`"a b"`: "a b", `'x'`: "x", `'a' "b"`: "ab", `"tab\there"`: "tab\there", `r"\d"`: `\d`,
		`b"x"`: "x", `f"x"`: `f"x"`, `"\x41\u00e9"`: "Aé", `"\q"`: `\q`,
		"[1, 'a', [None]]": []any{1, "a", []any{nil}}, "[]": []any{}, "()": []any{},
		"(1,)": []any{1}, "(1)": 1, "1, 2": []any{1, 2}, "[1,]": []any{1},
		"{'a': 1, 2: 'b', True: None}": map[string]any{"a": 1, "2": "b", "true": nil},
		"{1, 2}":                       "{1, 2}", // sets are not supported
		"7 # comment":                  7,
		"  42":                         42,
		"":                             "",
		"a b":                          "a b",
		"1 + 2":                        "1 + 2",
		"[1, 2":                        "[1, 2",
		"'unterminated":                "'unterminated",
		"inf":                          "inf",
		"--1":                          "--1",
		"-True":                        "-True",
		"x=y":                          "x=y",
		"/etc/hosts":                   "/etc/hosts",
		"99999999999999999999":         "99999999999999999999",
	} {
		if got := pyLiteral(in); !reflect.DeepEqual(got, want) {
			t.Errorf("pyLiteral(%q) = %#v, want %#v", in, got, want)
		}
	}
}

func TestExpandHostPattern(t *testing.T) {
	for _, c := range []struct {
		in    string
		names string
		port  int
	}{
		{"web[01:03]", "web01 web02 web03", 0},
		{"db-[a:c]", "db-a db-b db-c", 0},
		{"x[1:10:2]", "x1 x3 x5 x7 x9", 0},
		{"h[:2]", "h0 h1 h2", 0},
		{"n[1:2]-[a:b].lan", "n1-a.lan n1-b.lan n2-a.lan n2-b.lan", 0},
		{"r[A:C:2]", "rA rC", 0},
		{"r[y:B]", "ry rz rA rB", 0}, // Python's ascii_letters order
		{"host:2222", "host", 2222},
		{"web[1:2]:22", "web1 web2", 22},
		{"10.0.0.[1:2]:2201", "10.0.0.1 10.0.0.2", 2201},
		{"[::1]:22", "::1", 22},
		{"fe80::1", "fe80::1", 0},
		{"plain", "plain", 0},
		{"bad_:22", "bad_:22", 0}, // not a valid hostname, so no port split
	} {
		names, port, err := expandHostPattern(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := strings.Join(names, " "); got != c.names || port != c.port {
			t.Errorf("%q = %q port %d, want %q port %d", c.in, got, port, c.names, c.port)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	// noext is YAML without an extension; an INI file without one must
	// not be mistaken for YAML.
	dir := t.TempDir()
	for name, content := range map[string]string{
		"ini1": "host1\nhost2 a=1\n",
		"ini2": "[web]\nw1\n",
		"ini3": "w1:2222\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		inv, err := Load(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(inv.Hosts()) == 0 {
			t.Errorf("%s: no hosts", name)
		}
	}
	if inv := load(t, "noext"); inv.Host("lb1") == nil || inv.Host("lb1").Vars["weight"] != 10 {
		t.Errorf("noext not read as YAML")
	}
}

func TestGraph(t *testing.T) {
	inv := load(t, "children.ini")
	want := `@all:
  |--@ungrouped:
  |--@datacenter:
  |  |--@europe:
  |  |  |--@paris:
  |  |  |  |--p1
  |  |  |  |--p2
  |  |  |--@berlin:
  |  |  |  |--b1
  |  |  |  |--p2
  |  |--@america:
  |  |  |--@nyc:
  |  |  |  |--n1
  |  |  |  |--n2
  |--@lonely:
`
	if got := inv.Graph(); got != want {
		t.Errorf("Graph() =\n%s\nwant\n%s", got, want)
	}
}

// YAML scalars resolve as PyYAML (YAML 1.1) resolves them, since that is
// what Ansible reads; checked against yaml.safe_load.
func TestYAMLScalars(t *testing.T) {
	src := `
a: yes
b: Off
c: y
d: 0755
e: 0x1F
f: 1_000
g: 1e3
h: 1.5e+3
i: 1:30
j: ~
k: "12"
l: !!str 12
m: !!int "42"
n: 09
o: .5
p: [1, two, {q: null}]
r: &anchor {s: 1, t: 2}
u: {<<: *anchor, t: 3}
`
	v, err := decodeYAMLValue("x.yml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": true, "b": false, "c": "y", "d": 493, "e": 31, "f": 1000, "g": "1e3", "h": 1500.0,
		"i": 90, "j": nil, "k": "12", "l": "12", "m": 42, "n": "09", "o": 0.5,
		"p": []any{1, "two", map[string]any{"q": nil}},
		"r": map[string]any{"s": 1, "t": 2},
		"u": map[string]any{"s": 1, "t": 3},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got  %#v\nwant %#v", v, want)
	}
}

func TestGroupVars(t *testing.T) {
	inv := load(t, "vardirs/hosts")
	inv.SetExtraVars(map[string]any{"x": 1})
	want := map[string]any{"conflict": "group_vars_app", "layer": "group_vars_app", "app_port": 8080, "x": 1}
	if got := inv.GroupVars("app"); !reflect.DeepEqual(got, want) {
		t.Errorf("GroupVars(app) = %v, want %v", got, want)
	}
	if got := inv.GroupVars("all"); got["only_all"] != true || got["x"] != 1 {
		t.Errorf("GroupVars(all) = %v", got)
	}
	if got := inv.GroupVars("nope"); got == nil || len(got) != 0 {
		t.Errorf("GroupVars(nope) = %v, want an empty map", got)
	}
}
