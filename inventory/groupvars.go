package inventory

// GroupVars returns a group's own variables: those of the inventory file
// overlaid with its group_vars file, then extra vars. For "all" these are
// the play-wide variables a playbook reads with var(). The map is a copy.
func (inv *Inventory) GroupVars(name string) map[string]any {
	out := map[string]any{}
	g := inv.groups[name]
	if g == nil {
		return out
	}
	for k, v := range g.vars {
		out[k] = v
	}
	for _, layer := range []string{"group:", "pbgroup:"} {
		for k, v := range inv.fileVars[layer+name] {
			out[k] = v
		}
	}
	for k, v := range inv.extra {
		out[k] = v
	}
	return out
}
