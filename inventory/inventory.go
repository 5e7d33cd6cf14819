// Package inventory reads Ansible-compatible inventories (INI and YAML),
// with group_vars/host_vars beside them, and selects hosts with Ansible
// host patterns. Ansible (ansible-core 2.14) is the reference: where it
// has a documented behaviour and a different actual one, the actual one
// wins, because users' inventories were written against it.
package inventory

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Inventory is a parsed inventory. It is safe for concurrent reads;
// SetExtraVars must not race with readers.
type Inventory struct {
	path string

	groups     map[string]*group
	groupOrder []*group // creation order, like Ansible's groups dict
	hosts      map[string]*host
	hostOrder  []*host // creation order

	fileVars map[string]map[string]any // "group:NAME" / "host:NAME" -> group_vars/host_vars content
	extra    map[string]any
	vault    *Vault

	merged  map[string]*Host
	ordered []*Host

	warnings []string // files of inventory directories that were skipped
}

// Host is a host with its variables merged by Ansible's precedence.
// Callers must treat it as read-only: it is shared.
type Host struct {
	Name   string
	Vars   map[string]any // merged variables; never nil
	Groups []string       // every group the host is in, with ancestors and "all", sorted
}

type group struct {
	name     string
	vars     map[string]any
	priority int
	hosts    []*host
	children []*group
	parents  []*group
}

type host struct {
	name   string
	vars   map[string]any
	groups []*group // direct membership
}

func newInventory(path string) *Inventory {
	inv := &Inventory{
		path:   path,
		groups: map[string]*group{},
		hosts:  map[string]*host{},
	}
	inv.addGroup("all")
	inv.addGroup("ungrouped")
	inv.addChild(inv.groups["all"], inv.groups["ungrouped"])
	return inv
}

// Load reads an INI or YAML inventory and the group_vars/ and host_vars/
// directories beside it. Files ending in .yml, .yaml or .json are YAML;
// a file without extension is YAML if it parses as a YAML mapping (as
// Ansible tries its yaml plugin before the ini one); anything else is INI.
func Load(path string) (*Inventory, error) { return LoadWith(path, Options{}) }

// Options are the optional inputs of LoadWith.
type Options struct {
	Vault *Vault // passwords for vault-encrypted files and !vault values
	// PlaybookDir's group_vars/ and host_vars/ override the inventory's
	// (ansible-playbook: the playbook's directory; ansible-inventory: the
	// working directory).
	PlaybookDir string
}

// LoadWith is Load with options.
func LoadWith(path string, o Options) (*Inventory, error) {
	return LoadSources([]string{path}, o)
}

// parseFile reads one inventory file into inv.
func (inv *Inventory) parseFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	data, encrypted, err := inv.vault.open(path, data)
	if err != nil {
		return err
	}
	inv.path = path
	if err := inv.parseData(path, data); err != nil {
		return err
	}
	if encrypted {
		inv.markAllVarsSecret()
	}
	return nil
}

// parse reads an inventory's own text, without the vars directories (the
// fuzz targets' entry).
func parse(path string, data []byte) (*Inventory, error) {
	inv := newInventory(path)
	if err := inv.parseData(path, data); err != nil {
		return nil, err
	}
	inv.reconcile()
	return inv, nil
}

// parseData reads an inventory file's (plain) text into inv by its format.
func (inv *Inventory) parseData(path string, data []byte) error {
	var err error
	switch ext := strings.ToLower(filepath.Ext(path)); {
	case ext == ".yml" || ext == ".yaml" || ext == ".json":
		err = inv.parseYAML(data)
	case ext == ".toml":
		// Ansible tries its ini plugin first; it fails on TOML but keeps
		// the groups of the sections it read ([all.vars] makes a group
		// "all.vars"), so do the same to read such files as Ansible does.
		_ = inv.parseINI(data)
		err = inv.parseTOML(data)
	case ext == "" && looksLikeYAML(data):
		err = inv.parseYAML(data)
	default:
		err = inv.parseINI(data)
	}
	return err
}

func looksLikeYAML(data []byte) bool {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil || len(n.Content) == 0 {
		return false
	}
	return n.Content[0].Kind == yaml.MappingNode
}

func (inv *Inventory) addGroup(name string) *group {
	if g, ok := inv.groups[name]; ok {
		return g
	}
	g := &group{name: name, vars: map[string]any{}, priority: 1}
	inv.groups[name] = g
	inv.groupOrder = append(inv.groupOrder, g)
	return g
}

// addHost adds a host (if new) and puts it in g. As in Ansible, a port
// given with the host's first appearance becomes ansible_port.
func (inv *Inventory) addHost(name string, g *group, port int) *host {
	h, ok := inv.hosts[name]
	if !ok {
		h = &host{name: name, vars: map[string]any{}}
		if port > 0 {
			h.vars["ansible_port"] = port
		}
		inv.hosts[name] = h
		inv.hostOrder = append(inv.hostOrder, h)
	}
	if g != nil {
		g.addHost(h)
	}
	return h
}

func (g *group) addHost(h *host) {
	// A host is in few groups, a group may hold thousands of hosts:
	// search the short list so big inventories load in linear time.
	for _, x := range h.groups {
		if x == g {
			return
		}
	}
	g.hosts = append(g.hosts, h)
	h.groups = append(h.groups, g)
}

func (g *group) removeHost(h *host) {
	for i, x := range g.hosts {
		if x == h {
			g.hosts = append(g.hosts[:i:i], g.hosts[i+1:]...)
		}
	}
	for i, x := range h.groups {
		if x == g {
			h.groups = append(h.groups[:i:i], h.groups[i+1:]...)
		}
	}
}

// setVar sets an inventory variable of a group; ansible_group_priority is
// not a variable but the group's merge priority.
func (g *group) setVar(k string, v any) error {
	if k == "ansible_group_priority" {
		n, ok := toInt(v)
		if !ok {
			return fmt.Errorf("ansible_group_priority for group %s must be an integer, got %v", g.name, v)
		}
		g.priority = n
		return nil
	}
	g.vars[k] = v
	return nil
}

func toInt(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return n, err == nil
	}
	return 0, false
}

// addChild makes child a subgroup of parent, refusing cycles.
func (inv *Inventory) addChild(parent, child *group) error {
	if parent == child {
		return fmt.Errorf("can't add group %s to itself", parent.name)
	}
	for _, c := range parent.children {
		if c == child {
			return nil
		}
	}
	if child.isAncestorOf(parent) {
		return fmt.Errorf("adding group %q as child to %q creates a recursive dependency loop", child.name, parent.name)
	}
	parent.children = append(parent.children, child)
	child.parents = append(child.parents, parent)
	return nil
}

func (g *group) isAncestorOf(x *group) bool {
	seen := map[*group]bool{}
	var walk func(*group) bool
	walk = func(y *group) bool {
		for _, p := range y.parents {
			if p == g {
				return true
			}
			if !seen[p] {
				seen[p] = true
				if walk(p) {
					return true
				}
			}
		}
		return false
	}
	return walk(x)
}

// reconcile applies Ansible's rules after parsing: every top-level group
// is a child of all, and a host is in ungrouped iff it is in no other
// group.
func (inv *Inventory) reconcile() {
	all, ungrouped := inv.groups["all"], inv.groups["ungrouped"]
	for _, g := range inv.groupOrder {
		if g != all && len(g.parents) == 0 {
			inv.addChild(all, g)
		}
	}
	for _, h := range inv.hostOrder {
		ancestors := h.allGroups()
		inUngrouped, others := false, false
		for _, g := range ancestors {
			switch g {
			case ungrouped:
				inUngrouped = true
			case all:
			default:
				others = true
			}
		}
		if inUngrouped && others {
			ungrouped.removeHost(h)
		} else if !inUngrouped && !others {
			ungrouped.addHost(h)
		}
	}
}

// allGroups returns the host's groups and all their ancestors.
func (h *host) allGroups() []*group {
	var out []*group
	seen := map[*group]bool{}
	var walk func(g *group)
	walk = func(g *group) {
		if seen[g] {
			return
		}
		seen[g] = true
		out = append(out, g)
		for _, p := range g.parents {
			walk(p)
		}
	}
	for _, g := range h.groups {
		walk(g)
	}
	return out
}

// depth is the longest path from all, which is what Ansible's
// incrementally maintained Group.depth amounts to. memo holds the depths
// already known: without it, a ladder of groups each with two parents
// costs 2^n (the graph is acyclic, addChild refuses loops).
func (g *group) depth(memo map[*group]int) int {
	if d, ok := memo[g]; ok {
		return d
	}
	d := 0
	for _, p := range g.parents {
		if pd := p.depth(memo) + 1; pd > d {
			d = pd
		}
	}
	memo[g] = d
	return d
}

// sortGroups orders groups for merging like Ansible's sort_groups.
func sortGroups(gs []*group, memo map[*group]int) {
	depth := map[*group]int{}
	for _, g := range gs {
		depth[g] = g.depth(memo)
	}
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if depth[a] != depth[b] {
			return depth[a] < depth[b]
		}
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return a.name < b.name
	})
}

// descendantHosts lists the hosts of g and its subgroups in Ansible's
// order: g's own hosts, then its children's level by level.
func (g *group) descendantHosts() []*host {
	level := []*group{g}
	seenGroup := map[*group]bool{g: true}
	seenHost := map[*host]bool{}
	var out []*host
	for len(level) > 0 {
		var next []*group
		for _, x := range level {
			for _, h := range x.hosts {
				if !seenHost[h] {
					seenHost[h] = true
					out = append(out, h)
				}
			}
			for _, c := range x.children {
				if !seenGroup[c] {
					seenGroup[c] = true
					next = append(next, c)
				}
			}
		}
		level = next
	}
	return out
}

// loadVarsFiles reads group_vars/ and host_vars/ in dir, over what
// earlier directories gave; layer is "" for an inventory's directory and
// "pb" for the playbook's.
func (inv *Inventory) loadVarsFiles(dir, layer string) error {
	put := func(key string, m map[string]any) {
		if inv.fileVars[key] == nil {
			inv.fileVars[key] = map[string]any{}
		}
		for k, v := range m {
			inv.fileVars[key][k] = v
		}
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for _, g := range inv.groupOrder {
		m, err := loadVarsFor(filepath.Join(dir, "group_vars"), g.name, inv.vault)
		if err != nil {
			return err
		}
		if m != nil {
			put(layer+"group:"+g.name, m)
		}
	}
	for _, h := range inv.hostOrder {
		if strings.HasPrefix(h.name, string(filepath.Separator)) {
			continue // Ansible skips chroot-style names
		}
		m, err := loadVarsFor(filepath.Join(dir, "host_vars"), h.name, inv.vault)
		if err != nil {
			return err
		}
		if m != nil {
			put(layer+"host:"+h.name, m)
		}
	}
	return nil
}

var varsExts = []string{"", ".yml", ".yaml", ".json"}

// loadVarsFor finds NAME, NAME.yml, NAME.yaml or NAME.json in dir (the
// first that exists wins; a directory is read recursively in sorted order,
// skipping hidden and backup files) and merges their mappings.
func loadVarsFor(dir, name string, vlt *Vault) (map[string]any, error) {
	var files []string
	for _, ext := range varsExts {
		p := filepath.Join(dir, name+ext)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			var err error
			if files, err = varsDirFiles(p); err != nil {
				return nil, err
			}
		} else {
			files = []string{p}
		}
		break
	}
	var out map[string]any
	for _, f := range files {
		v, err := readVarsFile(f, vlt)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue // empty files are ignored
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: expected a mapping of variables, got %s", f, typeName(v))
		}
		if out == nil {
			out = map[string]any{}
		}
		for k, x := range m {
			out[k] = x
		}
	}
	return out, nil
}

func varsDirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		ext := filepath.Ext(name)
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir() && ext == "":
			sub, err := varsDirFiles(p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		case fi.Mode().IsRegular() && (ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"):
			out = append(out, p)
		}
	}
	return out, nil
}

// merge computes every host's variables, following the default
// VARIABLE_PRECEDENCE of Ansible: all's inventory vars, the host's groups'
// inventory vars (sorted by depth, priority, name), group_vars/all (the
// inventory's, then the playbook's), group_vars/<group> in the same order
// (the inventory's, then the playbook's), the host's inventory vars,
// host_vars/<host> (inventory's, playbook's), then extra vars. Values replace, never deep-merge
// (hash_behaviour=replace).
func (inv *Inventory) merge() {
	all := inv.groups["all"]
	inv.merged = map[string]*Host{}
	inv.ordered = nil
	depths := map[*group]int{}
	for _, h := range all.descendantHosts() {
		var groups []*group
		names := []string{}
		for _, g := range h.allGroups() {
			names = append(names, g.name)
			if g != all {
				groups = append(groups, g)
			}
		}
		sort.Strings(names)
		sortGroups(groups, depths)

		vars := map[string]any{}
		put := func(m map[string]any) {
			for k, v := range m {
				vars[k] = v
			}
		}
		put(all.vars)
		for _, g := range groups {
			put(g.vars)
		}
		put(inv.fileVars["group:all"])
		put(inv.fileVars["pbgroup:all"])
		for _, g := range groups {
			put(inv.fileVars["group:"+g.name])
		}
		for _, g := range groups {
			put(inv.fileVars["pbgroup:"+g.name])
		}
		put(h.vars)
		put(inv.fileVars["host:"+h.name])
		put(inv.fileVars["pbhost:"+h.name])
		put(inv.extra)

		hh := &Host{Name: h.name, Vars: vars, Groups: names}
		inv.merged[h.name] = hh
		inv.ordered = append(inv.ordered, hh)
	}
}

// Hosts returns every host in Ansible's order for the pattern "all".
func (inv *Inventory) Hosts() []*Host { return append([]*Host(nil), inv.ordered...) }

// Host returns the named host, or nil.
func (inv *Inventory) Host(name string) *Host { return inv.merged[name] }

// SetExtraVars sets variables (from -e) that override everything else.
func (inv *Inventory) SetExtraVars(m map[string]any) {
	inv.extra = m
	inv.merge()
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return "a boolean"
	case int, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// trimBOM drops a UTF-8 byte order mark, which editors on some systems add.
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }
