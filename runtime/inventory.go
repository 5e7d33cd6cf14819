package runtime

import "github.com/swarmrun/swarmrun/inventory"

// MatchInventory is an Options.Match that resolves patterns against an
// Ansible inventory.
func MatchInventory(inv *inventory.Inventory) func(string) ([]HostSpec, error) {
	return func(pattern string) ([]HostSpec, error) {
		hs, err := inv.Match(pattern)
		if err != nil {
			return nil, err
		}
		out := make([]HostSpec, len(hs))
		for i, h := range hs {
			out[i] = HostSpec{Name: h.Name, Vars: h.Vars}
		}
		return out, nil
	}
}
