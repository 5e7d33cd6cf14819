package modules

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

func init() {
	Register(&Module{
		Name: "ufw",
		Doc: `Manage the ufw firewall: rules, default policies, logging, enabled state.
The current state is read in one round trip from ufw's own files
(/etc/ufw/user.rules and user6.rules, /etc/ufw/ufw.conf, /etc/default/ufw)
plus a check that ufw's chains are live in iptables, so a rule is added only
when it is missing (never re-added) and an "enabled" firewall whose rules were
never loaded (e.g. after a reboot without ufw's boot script) is enabled again.
A rule with proto "any" and a port range or list becomes a tcp and a udp rule
(ufw needs a protocol for those). With exclusive = True, plain port/address
rules that are not listed are deleted (application and interface rules are
left alone).

Lock-out guard: enabling the firewall, or changing it while enabled, is refused
unless the final rules (or default_incoming = "allow") let in the SSH
connection in use: its port and client address are the controller's own (the
port after ansible_port, ssh_config Port and -p in ansible_ssh_common_args). allow_lockout = True skips the
guard.

    ufw(hosts("all"), default_incoming = "deny", state = "enabled", rules = [
        {"port": "22", "proto": "tcp", "comment": "ssh"},
        {"port": "2377", "proto": "tcp", "from": "198.18.0.0/24"},
        {"port": "7946"},
        {"port": "4789", "proto": "udp"},
    ])`,
		Params: []Param{
			{Name: "rules", Type: List, Doc: `list of dicts: {"rule": "allow"|"deny"|"limit"|"reject" (default allow), "port": "22" | "60000:61000" | "80,443" (default any), "proto": "tcp"|"udp"|"esp"|"ah"|"gre"|"igmp"|"ipv6"|"vrrp"|"any" or an IP protocol number ("50" = esp; default any; ports only with tcp/udp), "from": "any" | address | CIDR (default any), "to": the same (default any), "direction": "in"|"out" (default in), "comment": text, "state": "present"|"absent" (default present: absent deletes the rule if it is there)}`},
			{Name: "default_incoming", Type: String, Choices: []string{"allow", "deny", "reject"}, Doc: "default policy for incoming traffic (unset: leave as is)"},
			{Name: "default_outgoing", Type: String, Choices: []string{"allow", "deny", "reject"}, Doc: "default policy for outgoing traffic (unset: leave as is)"},
			{Name: "default_routed", Type: String, Choices: []string{"allow", "deny", "reject"}, Doc: "default policy for routed (forwarded) traffic (unset: leave as is)"},
			{Name: "state", Type: String, Choices: []string{"enabled", "disabled"}, Doc: "whether the firewall is active (unset: leave as is)"},
			{Name: "logging", Type: String, Choices: []string{"on", "off", "low", "medium", "high", "full"}, Doc: "ufw logging level (on means low; unset: leave as is)"},
			{Name: "exclusive", Type: Bool, Default: false, Doc: "delete port/address rules that are not listed"},
			{Name: "allow_lockout", Type: Bool, Default: false, Doc: "skip the guard that refuses a firewall which would block the SSH connection in use"},
		},
		Outputs: map[string]string{"added": "rules added (or that would be)", "deleted": "rules deleted (or that would be)"},
		Run:     runUfw,
	})
}

// ufwRule is a rule in ufw's own terms (as in a "### tuple ###" line), with
// "any" for any address.
type ufwRule struct {
	Action    string // allow, deny, limit, reject; may carry _log / _log-all
	Proto     string // tcp, udp, any
	DPort     string // "22", "60000:61000", "80,443" or "any"
	Dst       string
	SPort     string
	Src       string
	Direction string // in, out
	Comment   string // decoded
	Foreign   bool   // app or interface or route rule: never deleted by exclusive
	Absent    bool   // wanted absent: deleted when present
}

// key identifies a rule apart from its comment.
func (r ufwRule) key() string {
	return strings.Join([]string{r.Action, r.Proto, r.DPort, r.Dst, r.SPort, r.Src, r.Direction}, " ")
}

// String is a readable form used in messages and diffs.
func (r ufwRule) String() string {
	s := r.Action + " " + r.Direction
	if r.DPort != "any" {
		s += " " + r.DPort
		if r.Proto != "any" {
			s += "/" + r.Proto
		}
	} else if r.Proto != "any" {
		s += " proto " + r.Proto
	}
	if r.Src != "any" || r.SPort != "any" {
		s += " from " + r.Src
		if r.SPort != "any" {
			s += " port " + r.SPort
		}
	}
	if r.Dst != "any" {
		s += " to " + r.Dst
	}
	if r.Comment != "" {
		s += fmt.Sprintf(" (%s)", r.Comment)
	}
	return s
}

// args are the ufw command-line words for the rule, after "ufw" or "ufw delete".
func (r ufwRule) args(withComment bool) []string {
	action, log, _ := strings.Cut(r.Action, "_")
	a := []string{action, r.Direction}
	if log != "" {
		a = append(a, log)
	}
	if r.Proto != "any" {
		a = append(a, "proto", r.Proto)
	}
	a = append(a, "from", r.Src)
	if r.SPort != "any" {
		a = append(a, "port", r.SPort)
	}
	a = append(a, "to", r.Dst)
	if r.DPort != "any" {
		a = append(a, "port", r.DPort)
	}
	if withComment && r.Comment != "" {
		a = append(a, "comment", Quote(r.Comment))
	}
	return a
}

// ufwProtos are the protocols ufw knows by name, with their IP protocol
// numbers (which ufw itself does not accept).
var ufwProtos = map[string]string{"tcp": "6", "udp": "17", "esp": "50", "ah": "51", "gre": "47", "igmp": "2", "ipv6": "41", "vrrp": "112"}

// ufwProto returns a protocol in ufw's spelling: a name or "any"; an IP
// protocol number is turned into ufw's name for it.
func ufwProto(s string) (string, error) {
	s = strings.ToLower(s)
	if _, ok := ufwProtos[s]; ok || s == "any" {
		return s, nil
	}
	for name, num := range ufwProtos {
		if s == num {
			return name, nil
		}
	}
	return "", fmt.Errorf("proto %q: ufw knows any, tcp (6), udp (17), esp (50), ah (51), gre (47), igmp (2), ipv6 (41) and vrrp (112)", s)
}

var ufwPortRe = regexp.MustCompile(`^\d+(:\d+)?(,\d+(:\d+)?)*$`)

// ufwAddr canonicalises an address or network the way ufw stores it.
func ufwAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "any" || s == "0.0.0.0/0" || s == "::/0" {
		return "any", nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an address or network", s)
	}
	if pf.Bits() == pf.Addr().BitLen() {
		return pf.Addr().String(), nil
	}
	return pf.Masked().String(), nil
}

// ufwPort validates a port spec: ports 1-65535, ranges low:high.
func ufwPort(s string) (string, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if s == "" || s == "any" {
		return "any", nil
	}
	if !ufwPortRe.MatchString(s) {
		return "", fmt.Errorf("port %q: want a number, a range low:high or a comma list", s)
	}
	for _, r := range ufwRanges(s) {
		if r.lo < 1 || r.hi > 65535 || r.hi < r.lo || (r.isRange && r.hi == r.lo) {
			return "", fmt.Errorf("port %q: out of range", s)
		}
	}
	return s, nil
}

// portRange is one part of a ufw port spec: a port (lo == hi) or lo:hi.
type portRange struct {
	lo, hi  int
	isRange bool
}

// ufwRanges splits a port spec that matched ufwPortRe ("22", "80,443",
// "60000:61000") into its parts.
func ufwRanges(spec string) []portRange {
	var out []portRange
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		r := portRange{isRange: isRange}
		r.lo, _ = strconv.Atoi(lo)
		r.hi = r.lo
		if isRange {
			r.hi, _ = strconv.Atoi(hi)
		}
		out = append(out, r)
	}
	return out
}

// ufwDesired turns the rules parameter into normalised rules.
func ufwDesired(raw []any) ([]ufwRule, error) {
	var out []ufwRule
	for i, x := range raw {
		d, err := dictItem(x, fmt.Sprintf("rules[%d]", i), "rule", "port", "proto", "from", "to", "direction", "comment", "state")
		if err != nil {
			return nil, fmt.Errorf("ufw: %w", err)
		}
		get := func(k, def string) string {
			if v := strings.TrimSpace(hpScalar(d[k])); v != "" {
				return v
			}
			return def
		}
		r := ufwRule{Action: get("rule", "allow"), Proto: get("proto", "any"), Direction: get("direction", "in"), SPort: "any", Comment: hpScalar(d["comment"])}
		if !map[string]bool{"allow": true, "deny": true, "limit": true, "reject": true}[r.Action] {
			return nil, fmt.Errorf("ufw: rules[%d]: rule %q must be allow, deny, limit or reject", i, r.Action)
		}
		if r.Proto, err = ufwProto(r.Proto); err != nil {
			return nil, fmt.Errorf("ufw: rules[%d]: %w", i, err)
		}
		switch st := get("state", "present"); st {
		case "present":
		case "absent":
			r.Absent = true
		default:
			return nil, fmt.Errorf("ufw: rules[%d]: state %q must be present or absent", i, st)
		}
		if r.Direction != "in" && r.Direction != "out" {
			return nil, fmt.Errorf("ufw: rules[%d]: direction %q must be in or out", i, r.Direction)
		}
		if r.DPort, err = ufwPort(get("port", "any")); err != nil {
			return nil, fmt.Errorf("ufw: rules[%d]: %w", i, err)
		}
		if r.DPort != "any" && r.Proto != "any" && r.Proto != "tcp" && r.Proto != "udp" {
			return nil, fmt.Errorf("ufw: rules[%d]: proto %s has no ports: leave port out", i, r.Proto)
		}
		if r.Src, err = ufwAddr(get("from", "any")); err != nil {
			return nil, fmt.Errorf("ufw: rules[%d]: from: %w", i, err)
		}
		if r.Dst, err = ufwAddr(get("to", "any")); err != nil {
			return nil, fmt.Errorf("ufw: rules[%d]: to: %w", i, err)
		}
		if strings.ContainsAny(r.Comment, "\n\r") {
			return nil, fmt.Errorf("ufw: rules[%d]: comment must be one line", i)
		}
		if r.Proto == "any" && strings.ContainsAny(r.DPort, ":,") {
			// ufw refuses ranges and lists without a protocol.
			tcp, udp := r, r
			tcp.Proto, udp.Proto = "tcp", "udp"
			out = append(out, tcp, udp)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// ufwParseRules reads the "### tuple ###" lines of user.rules/user6.rules.
func ufwParseRules(content string) []ufwRule {
	var out []ufwRule
	for _, l := range strings.Split(content, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), "### tuple ###")
		if !ok {
			continue
		}
		var comment string
		if i := strings.Index(rest, " comment="); i >= 0 {
			if b, err := hex.DecodeString(strings.TrimSpace(rest[i+len(" comment="):])); err == nil {
				comment = string(b)
			}
			rest = rest[:i]
		}
		f := strings.Fields(rest)
		if len(f) < 6 {
			continue
		}
		r := ufwRule{Action: f[0], Proto: f[1], DPort: f[2], Dst: f[3], SPort: f[4], Src: f[5], Direction: "in", Comment: comment}
		if len(f) == 7 || len(f) == 9 {
			r.Direction = f[len(f)-1]
		}
		if len(f) > 7 || strings.Contains(r.Direction, "_") || strings.Contains(r.Action, ":") {
			r.Foreign = true // app, interface or route rule
		}
		r.Dst, _ = ufwAddr(r.Dst)
		r.Src, _ = ufwAddr(r.Src)
		out = append(out, r)
	}
	return out
}

// ufwConf reads KEY=value (optionally quoted) lines.
func ufwConf(content string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(content, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return m
}

// ufwPolicy maps /etc/default/ufw's iptables policy names to ufw's words.
func ufwPolicy(p string) string {
	switch strings.ToUpper(p) {
	case "ACCEPT":
		return "allow"
	case "DROP":
		return "deny"
	case "REJECT":
		return "reject"
	}
	return strings.ToLower(p)
}

// ufwPortCovers says whether a ufw port spec includes port.
func ufwPortCovers(spec string, port int) bool {
	if spec == "any" {
		return true
	}
	for _, r := range ufwRanges(spec) {
		if port >= r.lo && port <= r.hi {
			return true
		}
	}
	return false
}

// ufwAddrCovers says whether a rule address includes client ("" = unknown:
// only "any" is sure to).
func ufwAddrCovers(spec, client string) bool {
	if spec == "any" {
		return true
	}
	c, err := netip.ParseAddr(client)
	if err != nil {
		return false
	}
	c = c.Unmap()
	if a, err := netip.ParseAddr(spec); err == nil {
		return a == c
	}
	if pf, err := netip.ParsePrefix(spec); err == nil {
		return pf.Contains(c)
	}
	return false
}

// ufwAllowsSSH says whether rules let in TCP to port from client. The first
// matching rule decides, as in ufw's chain (rules are kept in file order).
func ufwAllowsSSH(rules []ufwRule, defaultIn string, port int, client string) bool {
	for _, r := range rules {
		if r.Foreign || r.Direction != "in" || (r.Proto != "tcp" && r.Proto != "any") {
			continue
		}
		if !ufwPortCovers(r.DPort, port) || r.SPort != "any" || !ufwAddrCovers(r.Src, client) {
			continue
		}
		action, _, _ := strings.Cut(r.Action, "_")
		return action == "allow" || action == "limit"
	}
	return defaultIn == "allow"
}

// ufwPlan is what must change.
type ufwPlan struct {
	Add, Delete []ufwRule
	Defaults    [][2]string // direction, policy
	Logging     string
	Enable      bool // ufw --force enable at the end
	Disable     bool
	Reload      bool // enabled in ufw.conf but not live: enable first
	Final       []ufwRule
	FinalIn     string
}

func (p ufwPlan) empty() bool {
	return len(p.Add) == 0 && len(p.Delete) == 0 && len(p.Defaults) == 0 && p.Logging == "" && !p.Enable && !p.Disable && !p.Reload
}

// ufwObserved is ufw's current state.
type ufwObserved struct {
	Rules    []ufwRule
	Conf     map[string]string // ufw.conf
	Defaults map[string]string // /etc/default/ufw
	Live     bool
}

// ufwMakePlan compares the wanted state with the observed one.
func ufwMakePlan(obs ufwObserved, want []ufwRule, p Params) ufwPlan {
	plan := ufwPlanRules(obs, want, p.Bool("exclusive"))
	plan.FinalIn = ufwPolicy(obs.Defaults["DEFAULT_INPUT_POLICY"])
	for _, d := range []struct{ param, key, dir string }{
		{"default_incoming", "DEFAULT_INPUT_POLICY", "incoming"},
		{"default_outgoing", "DEFAULT_OUTPUT_POLICY", "outgoing"},
		{"default_routed", "DEFAULT_FORWARD_POLICY", "routed"},
	} {
		if w := p.String(d.param); w != "" && w != ufwPolicy(obs.Defaults[d.key]) {
			plan.Defaults = append(plan.Defaults, [2]string{d.dir, w})
			if d.dir == "incoming" {
				plan.FinalIn = w
			}
		}
	}
	if lv := p.String("logging"); lv != "" {
		if lv == "on" {
			lv = "low"
		}
		cur := strings.ToLower(obs.Conf["LOGLEVEL"])
		if cur == "" {
			cur = "low"
		}
		if lv != cur {
			plan.Logging = lv
		}
	}
	confOn := strings.ToLower(obs.Conf["ENABLED"]) == "yes"
	switch p.String("state") {
	case "enabled":
		if confOn && !obs.Live {
			plan.Reload = true
		} else if !confOn {
			plan.Enable = true
		}
	case "disabled":
		if confOn || obs.Live {
			plan.Disable = true
		}
	default:
		if confOn && !obs.Live && (len(plan.Add) > 0 || len(plan.Delete) > 0) {
			plan.Reload = true // ufw cannot edit chains that are not there
		}
	}
	return plan
}

// ufwPlanRules plans the rules: wanted ones missing (or with another
// comment) are added, absent ones (and with exclusive the unlisted ones)
// deleted; Final is the rule list afterwards, in ufw's order.
func ufwPlanRules(obs ufwObserved, want []ufwRule, exclusive bool) ufwPlan {
	var plan ufwPlan
	have := map[string]ufwRule{}
	for _, r := range obs.Rules {
		if _, dup := have[r.key()]; !dup {
			have[r.key()] = r
		}
	}
	wanted, absent := map[string]bool{}, map[string]bool{}
	recomment := map[string]ufwRule{} // present with another comment: re-adding updates it
	for _, r := range want {
		if r.Absent {
			absent[r.key()] = true
		}
	}
	for _, r := range want {
		if wanted[r.key()] || r.Absent {
			continue
		}
		delete(absent, r.key()) // listed as wanted too: wanted wins
		wanted[r.key()] = true
		if h, ok := have[r.key()]; !ok || h.Comment != r.Comment {
			plan.Add = append(plan.Add, r)
			if ok {
				recomment[r.key()] = r
			}
		}
	}
	seen := map[string]bool{}
	for _, r := range obs.Rules {
		if seen[r.key()] {
			continue
		}
		seen[r.key()] = true
		if !r.Foreign && (absent[r.key()] || exclusive && !wanted[r.key()]) {
			plan.Delete = append(plan.Delete, r)
			continue
		}
		if n, ok := recomment[r.key()]; ok {
			r = n
		}
		plan.Final = append(plan.Final, r)
	}
	for _, r := range plan.Add {
		if _, ok := have[r.key()]; !ok {
			plan.Final = append(plan.Final, r)
		}
	}
	return plan
}

// ufwScript renders the plan as one shell script.
func ufwScript(plan ufwPlan) string {
	var b strings.Builder
	b.WriteString("set -e\nexport LC_ALL=C\n")
	if plan.Reload {
		b.WriteString("ufw --force enable\n")
	}
	for _, r := range plan.Delete {
		b.WriteString("ufw --force delete " + strings.Join(r.args(false), " ") + "\n")
	}
	for _, r := range plan.Add {
		b.WriteString("ufw " + strings.Join(r.args(true), " ") + "\n")
	}
	for _, d := range plan.Defaults {
		b.WriteString("ufw default " + d[1] + " " + d[0] + "\n")
	}
	if plan.Logging != "" {
		b.WriteString("ufw logging " + plan.Logging + "\n")
	}
	if plan.Enable {
		b.WriteString("ufw --force enable\n")
	}
	if plan.Disable {
		b.WriteString("ufw disable\n")
	}
	return b.String()
}

// ufwDescribe lists the plan as +/- lines.
func ufwDescribe(plan ufwPlan, obs ufwObserved) []string {
	var out []string
	for _, r := range plan.Delete {
		out = append(out, "- "+r.String())
	}
	for _, r := range plan.Add {
		out = append(out, "+ "+r.String())
	}
	keys := map[string]string{"incoming": "DEFAULT_INPUT_POLICY", "outgoing": "DEFAULT_OUTPUT_POLICY", "routed": "DEFAULT_FORWARD_POLICY"}
	for _, d := range plan.Defaults {
		out = append(out, fmt.Sprintf("~ default %s: %s -> %s", d[0], ufwPolicy(obs.Defaults[keys[d[0]]]), d[1]))
	}
	if plan.Logging != "" {
		out = append(out, fmt.Sprintf("~ logging: %s -> %s", obs.Conf["LOGLEVEL"], plan.Logging))
	}
	if plan.Reload {
		out = append(out, "~ enabled in ufw.conf but not loaded: enable")
	}
	if plan.Enable {
		out = append(out, "~ state: disabled -> enabled")
	}
	if plan.Disable {
		out = append(out, "~ state: enabled -> disabled")
	}
	return out
}

// ufwFiles are the files ufw keeps its state in: ufw.conf, the defaults,
// the IPv4 and the IPv6 user rules.
var ufwFiles = [...]string{"/etc/ufw/ufw.conf", "/etc/default/ufw", "/etc/ufw/user.rules", "/etc/ufw/user6.rules"}

func runUfw(ctx context.Context, t *Target, p Params) (*Result, error) {
	want, err := ufwDesired(p.List("rules"))
	if err != nil {
		return nil, err
	}
	obs, installed, err := ufwObserve(ctx, t)
	if err != nil {
		return nil, err
	}
	res := &Result{Outputs: map[string]any{"added": []any{}, "deleted": []any{}}}
	kit := NewPlan("ufw", "firewall already as wanted")
	if !installed {
		if !t.Check {
			return nil, fmt.Errorf("ufw: ufw is not installed on %s (install it first, e.g. apt(packages = [\"ufw\"]))", t.Name)
		}
		kit.Add("apply every setting", "", nil)
		kit.Note("ufw is not installed (assuming an earlier step installs it)")
		return kit.Apply(ctx, t, res)
	}
	plan := ufwMakePlan(obs, want, p)
	if plan.empty() {
		return kit.Apply(ctx, t, res)
	}
	if err := ufwGuard(t, p, plan, obs); err != nil {
		return nil, err
	}
	add := make([]any, len(plan.Add))
	for i, r := range plan.Add {
		add[i] = r.String()
	}
	del := make([]any, len(plan.Delete))
	for i, r := range plan.Delete {
		del[i] = r.String()
	}
	res.Outputs["added"], res.Outputs["deleted"] = add, del
	changes := ufwDescribe(plan, obs)
	// One script, one change: ufw applies it in one round trip.
	kit.Add(ufwSummary(plan, changes), strings.Join(changes, "\n")+"\n", func(ctx context.Context) error {
		_, err := Sh(ctx, t, ufwScript(plan))
		return err
	})
	return kit.Apply(ctx, t, res)
}

// ufwObserve reads ufw's state in one round trip: its files and whether
// its chains are live.
func ufwObserve(ctx context.Context, t *Target) (obs ufwObserved, installed bool, err error) {
	script := strings.Join([]string{
		"export LC_ALL=C",
		"command -v ufw >/dev/null 2>&1 && " + hpSection("installed"),
		hpSection("files") + "; " + hpReadFiles(ufwFiles[:]...),
		"iptables -w -n -L ufw-user-input >/dev/null 2>&1 && " + hpSection("live"),
		"true",
	}, "\n")
	out, err := Sh(ctx, t, script)
	if err != nil {
		return obs, false, fmt.Errorf("ufw: reading firewall state: %w", err)
	}
	sec := hpSections(out)
	for f, c := range hpFiles(sec["files"], ufwFiles[:]) {
		sec[f] = c
	}
	_, installed = sec["installed"]
	_, live := sec["live"]
	return ufwObserved{
		Rules:    append(ufwParseRules(sec[ufwFiles[2]]), ufwParseRules(sec[ufwFiles[3]])...),
		Conf:     ufwConf(sec[ufwFiles[0]]),
		Defaults: ufwConf(sec[ufwFiles[1]]),
		Live:     live,
	}, installed, nil
}

// ufwGuard is the lock-out guard: when the firewall ends up enabled, the
// final rules must let in the SSH connection in use.
func ufwGuard(t *Target, p Params, plan ufwPlan, obs ufwObserved) error {
	finalOn := plan.Enable || plan.Reload || (strings.ToLower(obs.Conf["ENABLED"]) == "yes" && !plan.Disable)
	if !finalOn || p.Bool("allow_lockout") {
		return nil
	}
	port, client := ufwSSHEndpoint(t)
	if ufwAllowsSSH(plan.Final, plan.FinalIn, port, client) {
		return nil
	}
	from := "any address"
	if client != "" {
		from = client
	}
	return fmt.Errorf("ufw: refusing to change the firewall on %s: with these rules it would be enabled without allowing SSH (tcp port %d from %s), which would lock swarmrun out; add a rule such as {\"port\": \"%d\", \"proto\": \"tcp\"} or set allow_lockout = True to override", t.Name, port, from, port)
}

// ufwSummary is the change as reported: each line of the description
// ("add R", "delete R", the "~" settings), or with more than three lines
// counts of rules: the diff has every line; the message stays readable.
func ufwSummary(plan ufwPlan, changes []string) string {
	var parts []string
	if len(changes) > 3 {
		if n := len(plan.Delete); n > 0 {
			parts = append(parts, fmt.Sprintf("delete %d rule(s)", n))
		}
		if n := len(plan.Add); n > 0 {
			parts = append(parts, fmt.Sprintf("add %d rule(s)", n))
		}
	}
	for _, c := range changes {
		switch {
		case strings.HasPrefix(c, "~ "):
			parts = append(parts, strings.TrimPrefix(c, "~ "))
		case len(changes) > 3:
		case strings.HasPrefix(c, "+ "):
			parts = append(parts, "add "+strings.TrimPrefix(c, "+ "))
		case strings.HasPrefix(c, "- "):
			parts = append(parts, "delete "+strings.TrimPrefix(c, "- "))
		}
	}
	return strings.Join(parts, ", ")
}

// ufwSSHEndpoint is the port and client address of the connection in
// use, as the controller made it. $SSH_CONNECTION on the host is no
// guide: sudo removes it. Without SSH (a local connection) the
// inventory's port is the best guess.
func ufwSSHEndpoint(t *Target) (int, string) {
	if ep, ok := t.Conn.(interface{ SSHEndpoint() (int, string) }); ok {
		return ep.SSHEndpoint()
	}
	if p := connection.ReadVars(t.Vars).Port; p > 0 {
		return p, ""
	}
	return 22, ""
}
