package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/swarmrun/swarmrun/inventory"
)

// labHost is one host of the lab inventory.
type labHost struct {
	Name string
	Vars map[string]string // merged: ansible_host, ansible_user, ...
	own  map[string]any    // its variables apart from the group all's
}

func (h labHost) addr() string {
	if a := h.Vars["ansible_host"]; a != "" {
		return a
	}
	return h.Name
}

// labInventory is what the bench needs from `swarmrun lab up`'s inventory.
type labInventory struct {
	Hosts   []labHost
	AllVars map[string]any // the group all's variables
}

// loadInventory reads the inventory `swarmrun lab up` writes, with the
// inventory package swarmrun itself uses.
func loadInventory(path string) (*labInventory, error) {
	inv, err := inventory.Load(path)
	if err != nil {
		return nil, err
	}
	out := &labInventory{AllVars: inv.GroupVars("all")}
	for _, h := range inv.Hosts() {
		lh := labHost{Name: h.Name, Vars: map[string]string{}, own: map[string]any{}}
		for k, v := range h.Vars {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			lh.Vars[k] = s
			if av, ok := out.AllVars[k]; !ok || !reflect.DeepEqual(av, v) {
				lh.own[k] = v
			}
		}
		out.Hosts = append(out.Hosts, lh)
	}
	if len(out.Hosts) == 0 {
		return nil, fmt.Errorf("%s: no hosts", path)
	}
	return out, nil
}

// writeSubset writes an INI inventory of the first n hosts, in one group,
// with the lab's [all:vars]. Both tools get the same file.
func (inv *labInventory) writeSubset(path string, n int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# first %d hosts of the bench lab, written by swarmrun-bench\n[bench]\n", n)
	for _, h := range inv.Hosts[:n] {
		b.WriteString(h.Name)
		for _, k := range slices.Sorted(maps.Keys(h.own)) {
			fmt.Fprintf(&b, " %s=%s", k, iniValue(h.own[k]))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n[all:vars]\n")
	for _, k := range slices.Sorted(maps.Keys(inv.AllVars)) {
		fmt.Fprintf(&b, "%s=%s\n", k, iniValue(inv.AllVars[k]))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// iniValue writes v so that Ansible's INI reader (a Python literal, else
// the plain text) and inventory.Load read v back: strings with spaces or
// quotes as a quoted Python string.
func iniValue(v any) string {
	switch x := v.(type) {
	case string:
		if !strings.ContainsAny(x, " \t'\"\\#;") {
			return x
		}
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x) + "'"
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// labUp starts the bench lab with the real binary.
func labUp(ctx context.Context, bin, dir string, hosts, net int) error {
	cmd := exec.CommandContext(ctx, bin, "lab", "up", "--hosts", fmt.Sprint(hosts), "--no-docker",
		"--net", fmt.Sprint(net), "--dir", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// labDown takes the bench lab down.
func labDown(bin, dir string) error {
	cmd := exec.Command(bin, "lab", "down", "--dir", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func labInventoryPath(dir string) string { return filepath.Join(dir, "inventory") }
