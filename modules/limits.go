package modules

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	Register(&Module{
		Name: "limits",
		Doc: `Manage pam_limits entries (nofile, nproc, ...) in a limits.d file.
An entry is identified by its domain, type and item: an existing line for it is
replaced in place when its value differs (other lines and comments are kept),
a missing one is appended; with state = "absent" matching lines are removed.
The file is written only when its content changes.

    limits(hosts("all"), entries = [
        {"domain": "*", "type": "soft", "item": "nofile", "value": 65536},
        {"domain": "*", "type": "hard", "item": "nofile", "value": 65536},
    ])`,
		Params: []Param{
			{Name: "entries", Type: List, Required: true, Doc: `list of dicts {"domain": "*"|user|@group, "type": "soft"|"hard"|"-", "item": e.g. "nofile", "value": int or "unlimited"}; value is not needed for state = "absent"`},
			{Name: "file", Type: String, Default: "/etc/security/limits.d/99-swarmrun.conf", Doc: "the limits file to manage"},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "present: the entries are in the file with these values; absent: no line for them"},
		},
		Run: runLimits,
	})
}

// limitsEntry is one line of limits.conf(5).
type limitsEntry struct{ Domain, Type, Item, Value string }

func (e limitsEntry) key() string  { return e.Domain + " " + e.Type + " " + e.Item }
func (e limitsEntry) line() string { return e.Domain + " " + e.Type + " " + e.Item + " " + e.Value }

// limitsItems are the items pam_limits knows; anything else is a typo that
// pam would silently ignore, so we refuse it.
var limitsItems = map[string]bool{"core": true, "data": true, "fsize": true, "memlock": true, "nofile": true,
	"rss": true, "stack": true, "cpu": true, "nproc": true, "as": true, "maxlogins": true, "maxsyslogins": true,
	"nonewprivs": true, "priority": true, "locks": true, "sigpending": true, "msgqueue": true, "nice": true, "rtprio": true}

// limitsEntries validates the entries parameter.
func limitsEntries(raw []any, needValue bool) ([]limitsEntry, error) {
	var out []limitsEntry
	for i, r := range raw {
		d, err := dictItem(r, fmt.Sprintf("entries[%d]", i), "domain", "type", "item", "value")
		if err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
		e := limitsEntry{Domain: hpScalar(d["domain"]), Type: hpScalar(d["type"]), Item: hpScalar(d["item"]), Value: hpScalar(d["value"])}
		if e.Domain == "" || strings.ContainsAny(e.Domain, " \t\n") {
			return nil, fmt.Errorf("limits: entries[%d]: domain %q must be a non-empty word", i, e.Domain)
		}
		if e.Type != "soft" && e.Type != "hard" && e.Type != "-" {
			return nil, fmt.Errorf("limits: entries[%d]: type %q must be soft, hard or -", i, e.Type)
		}
		if !limitsItems[e.Item] {
			return nil, fmt.Errorf("limits: entries[%d]: unknown item %q", i, e.Item)
		}
		if needValue && (e.Value == "" || strings.ContainsAny(e.Value, " \t\n")) {
			return nil, fmt.Errorf("limits: entries[%d] (%s): value %q must be a non-empty word", i, e.key(), e.Value)
		}
		out = append(out, e)
	}
	return out, nil
}

// limitsEdit returns content with the entries set (present) or removed
// (absent).
func limitsEdit(content string, entries []limitsEntry, present bool) string {
	want := map[string]limitsEntry{}
	for _, e := range entries {
		want[e.key()] = e
	}
	done := map[string]bool{}
	var out strings.Builder
	for _, l := range fileLines(content) {
		// pam_limits ignores everything from '#' on: "* soft nofile 1024 #
		// note" is this entry's line too.
		entry, _, _ := strings.Cut(l, "#")
		f := strings.Fields(entry)
		if len(f) == 4 {
			k := f[0] + " " + f[1] + " " + f[2]
			if e, mine := want[k]; mine {
				if !present || done[k] {
					continue // removed, or a duplicate of a line already set
				}
				done[k] = true
				if f[3] != e.Value {
					l = e.line() + "\n"
				}
			}
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		out.WriteString(l)
	}
	if present {
		for _, e := range entries {
			if !done[e.key()] {
				if out.Len() == 0 {
					out.WriteString("# Managed by swarmrun (limits module).\n")
				}
				done[e.key()] = true
				out.WriteString(e.line() + "\n")
			}
		}
	}
	return out.String()
}

func runLimits(ctx context.Context, t *Target, p Params) (*Result, error) {
	present := p.String("state") != "absent"
	entries, err := limitsEntries(p.List("entries"), present)
	if err != nil {
		return nil, err
	}
	file := p.String("file")
	// One exec, not SFTP: a no-op run then costs one session and no
	// sftp-server process on the host.
	out, err := Sh(ctx, t, fmt.Sprintf("if [ -e %s ]; then %s; %s; fi", Quote(file), hpSection("file"), hpCat(file)))
	if err != nil {
		return nil, fmt.Errorf("limits: reading %s: %w", file, err)
	}
	old, exists := hpSections(out)["file"]
	updated := limitsEdit(old, entries, present)
	plan := NewPlan("limits", "entries already "+p.String("state"))
	if updated != old || (!exists && present) {
		plan.UpdateFile(t, file, old, updated, 0o644)
	}
	return plan.Apply(ctx, t, nil)
}
