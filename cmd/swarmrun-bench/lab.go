package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// labHost is one host of the lab inventory.
type labHost struct {
	Name string
	Line string            // its inventory line, as written by lab up
	Vars map[string]string // ansible_host, ansible_user, ...
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
	AllVars []string // lines of [all:vars]
}

// parseInventory reads the INI inventory `swarmrun lab up` writes: host
// lines "NAME k=v ..." under group headers and an [all:vars] section.
func parseInventory(path string) (*labInventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	inv := &labInventory{}
	section := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if strings.HasSuffix(section, ":vars") {
			if section == "all:vars" {
				inv.AllVars = append(inv.AllVars, line)
			}
			continue
		}
		if strings.HasSuffix(section, ":children") {
			continue
		}
		fields := strings.Fields(line)
		h := labHost{Name: fields[0], Line: line, Vars: map[string]string{}}
		for _, kv := range fields[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				h.Vars[k] = strings.Trim(v, `'"`)
			}
		}
		if !seen[h.Name] {
			seen[h.Name] = true
			inv.Hosts = append(inv.Hosts, h)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(inv.Hosts) == 0 {
		return nil, fmt.Errorf("%s: no hosts", path)
	}
	return inv, nil
}

// writeSubset writes an inventory of the first n hosts, in one group, with
// the lab's [all:vars]. Both tools get the same file.
func (inv *labInventory) writeSubset(path string, n int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# first %d hosts of the bench lab, written by swarmrun-bench\n[bench]\n", n)
	for _, h := range inv.Hosts[:n] {
		b.WriteString(h.Line + "\n")
	}
	b.WriteString("\n[all:vars]\n")
	for _, l := range inv.AllVars {
		b.WriteString(l + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
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
