package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ignoredInDir is what Ansible skips in an inventory directory: hidden
// files, group_vars/host_vars/vars_plugins, and INVENTORY_IGNORE_EXTS.
var ignoredInDir = regexp.MustCompile(`^\.|^host_vars$|^group_vars$|^vars_plugins$|(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$`)

// LoadSources reads several inventory sources into one inventory, as
// repeated -i options do: files, directories (their files in name order,
// recursively, skipping what Ansible skips) and "h1,h2," host lists.
// Each source's group_vars/ and host_vars/ (beside a file, inside a
// directory) are read, later sources over earlier ones, then those of
// o.PlaybookDir.
func LoadSources(paths []string, o Options) (*Inventory, error) {
	inv := newInventory(strings.Join(paths, ","))
	inv.vault = o.Vault
	var varDirs []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case err != nil && strings.Contains(p, ","):
			if err := inv.addHostList(p); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		case fi.IsDir():
			if err := inv.addDir(p); err != nil {
				return nil, err
			}
			varDirs = append(varDirs, p)
		default:
			if err := inv.parseFile(p); err != nil {
				return nil, err
			}
			varDirs = append(varDirs, filepath.Dir(p))
		}
	}
	inv.path = strings.Join(paths, ",")
	inv.reconcile()
	inv.fileVars = map[string]map[string]any{}
	for _, d := range varDirs {
		if err := inv.loadVarsFiles(d, ""); err != nil {
			return nil, err
		}
	}
	if o.PlaybookDir != "" {
		if err := inv.loadVarsFiles(o.PlaybookDir, "pb"); err != nil {
			return nil, err
		}
	}
	inv.merge()
	return inv, nil
}

// addDir reads every inventory file under dir. A file no parser accepts
// is skipped with a warning, as Ansible does.
func (inv *Inventory) addDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if ignoredInDir.MatchString(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			if err := inv.addDir(p); err != nil {
				return err
			}
			continue
		}
		if fi.Mode()&0o111 != 0 {
			inv.warnings = append(inv.warnings, fmt.Sprintf("%s: skipped: dynamic inventory scripts are not supported", p))
			continue
		}
		if err := inv.parseFile(p); err != nil {
			inv.warnings = append(inv.warnings, fmt.Sprintf("%s: skipped: not an inventory swarmrun can read: %v", p, err))
		}
	}
	return nil
}

// addHostList reads Ansible's host_list source: "h1,h2:2222,".
func (inv *Inventory) addHostList(list string) error {
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, port, ok := splitHostPort(item)
		if !ok {
			name, port = item, 0
		}
		inv.addHost(name, inv.groups["ungrouped"], port)
	}
	return nil
}

// Warnings lists inventory files that were skipped.
func (inv *Inventory) Warnings() []string { return inv.warnings }
