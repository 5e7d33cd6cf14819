package modules

import (
	"strings"
	"testing"
)

// A user.rules file as ufw 0.36 writes it (from `ufw allow 22/tcp`,
// `ufw allow proto tcp from 198.18.0.0/24 to any port 2377 comment swarm`,
// `ufw deny out 25/tcp`, `ufw allow in on eth0 to any port 80`, `ufw allow OpenSSH`).
const ufwUserRules = `*filter
:ufw-user-input - [0:0]
:ufw-user-output - [0:0]
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### allow tcp 2377 0.0.0.0/0 any 198.18.0.0/24 in comment=737761726d
-A ufw-user-input -p tcp --dport 2377 -s 198.18.0.0/24 -j ACCEPT

### tuple ### deny tcp 25 0.0.0.0/0 any 0.0.0.0/0 out
-A ufw-user-output -p tcp --dport 25 -j DROP

### tuple ### allow any 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0
-A ufw-user-input -i eth0 -p tcp --dport 80 -j ACCEPT

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT -m comment --comment 'dapp_OpenSSH'

### tuple ### limit_log tcp 60000:61000 0.0.0.0/0 any 0.0.0.0/0 in
### END RULES ###
COMMIT
`

func TestUfwParseRules(t *testing.T) {
	rules := ufwParseRules(ufwUserRules)
	var got []string
	for _, r := range rules {
		s := r.String()
		if r.Foreign {
			s += " [foreign]"
		}
		got = append(got, s)
	}
	want := []string{
		"allow in 22/tcp",
		"allow in 2377/tcp from 198.18.0.0/24 (swarm)",
		"deny out 25/tcp",
		"allow in_eth0 80 [foreign]",
		"allow in 22/tcp [foreign]",
		"limit_log in 60000:61000/tcp",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// v6 rules for "any" normalise to the same keys.
	v6 := ufwParseRules("### tuple ### allow tcp 22 ::/0 any ::/0 in\n")
	if len(v6) != 1 || v6[0].key() != rules[0].key() {
		t.Errorf("v6: %+v", v6)
	}
}

func TestUfwDesired(t *testing.T) {
	rules, err := ufwDesired([]any{
		map[string]any{"port": int64(22), "proto": "tcp", "comment": "ssh"},
		map[string]any{"port": "60000:61000"},
		map[string]any{"rule": "deny", "from": "10.1.2.3/8", "to": "192.168.1.5/32"},
		map[string]any{"port": "7946"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.key())
	}
	want := []string{
		"allow tcp 22 any any any in",
		"allow tcp 60000:61000 any any any in", "allow udp 60000:61000 any any any in",
		"deny any any 192.168.1.5 any 10.0.0.0/8 in",
		"allow any 7946 any any any in",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a := strings.Join(rules[0].args(true), " "); a != "allow in proto tcp from any to any port 22 comment ssh" {
		t.Errorf("args: %s", a)
	}
	bad := []map[string]any{
		{"port": "0"}, {"port": "70000"}, {"port": "22/tcp"}, {"port": "5:3"}, {"rule": "permit"},
		{"proto": "icmp"}, {"from": "nowhere"}, {"direction": "sideways"}, {"portz": "22"},
	}
	for _, b := range bad {
		if _, err := ufwDesired([]any{b}); err == nil {
			t.Errorf("ufwDesired(%v): want an error", b)
		}
	}
}

func TestUfwPlan(t *testing.T) {
	obs := ufwObserved{
		Rules:    ufwParseRules(ufwUserRules),
		Conf:     ufwConf("ENABLED=no\nLOGLEVEL=low\n"),
		Defaults: ufwConf("IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\nDEFAULT_FORWARD_POLICY=\"DROP\"\n"),
	}
	want, _ := ufwDesired([]any{
		map[string]any{"port": "22", "proto": "tcp"},
		map[string]any{"port": "2377", "proto": "tcp", "from": "198.18.0.0/24", "comment": "swarm manager"},
		map[string]any{"port": "4789", "proto": "udp"},
	})
	p := Params{"exclusive": true, "state": "enabled", "default_incoming": "deny", "default_routed": "allow", "logging": "on"}
	plan := ufwMakePlan(obs, want, p)
	desc := strings.Join(ufwDescribe(plan, obs), "\n")
	exp := strings.Join([]string{
		"- deny out 25/tcp",
		"- limit_log in 60000:61000/tcp",
		"+ allow in 2377/tcp from 198.18.0.0/24 (swarm manager)",
		"+ allow in 4789/udp",
		"~ default routed: deny -> allow",
		"~ state: disabled -> enabled",
	}, "\n")
	if desc != exp {
		t.Errorf("plan:\n%s\nwant\n%s", desc, exp)
	}
	script := ufwScript(plan)
	for _, line := range []string{
		"ufw --force delete deny out proto tcp from any to any port 25\n",
		"ufw --force delete limit in log proto tcp from any to any port 60000:61000\n",
		"ufw allow in proto tcp from 198.18.0.0/24 to any port 2377 comment 'swarm manager'\n",
		"ufw default allow routed\n",
		"ufw --force enable\n",
	} {
		if !strings.Contains(script, line) {
			t.Errorf("script lacks %q:\n%s", line, script)
		}
	}
	if !ufwAllowsSSH(plan.Final, plan.FinalIn, 22, "198.18.0.1") {
		t.Error("22/tcp is allowed")
	}
	if ufwAllowsSSH(plan.Final, plan.FinalIn, 2222, "198.18.0.1") {
		t.Error("2222 is not allowed")
	}
	// The same state again: nothing to do.
	obs2 := obs
	obs2.Conf = ufwConf("ENABLED=yes\nLOGLEVEL=low\n")
	obs2.Live = true
	obs2.Defaults["DEFAULT_FORWARD_POLICY"] = "ACCEPT"
	obs2.Rules = nil
	for _, r := range plan.Final {
		obs2.Rules = append(obs2.Rules, r)
	}
	if p2 := ufwMakePlan(obs2, want, p); !p2.empty() {
		t.Errorf("second plan not empty: %v", ufwDescribe(p2, obs2))
	}
	// Enabled in ufw.conf but the chains are not loaded: enable again.
	obs2.Live = false
	if p3 := ufwMakePlan(obs2, want, p); !p3.Reload || p3.Enable {
		t.Errorf("not live: %+v", p3)
	}
}

func TestUfwAllowsSSH(t *testing.T) {
	r := func(spec map[string]any) ufwRule { x, _ := ufwDesired([]any{spec}); return x[0] }
	cases := []struct {
		rules  []ufwRule
		def    string
		client string
		ok     bool
	}{
		{nil, "deny", "198.18.0.1", false},
		{nil, "allow", "198.18.0.1", true},
		{[]ufwRule{r(map[string]any{"port": "22"})}, "deny", "198.18.0.1", true},
		{[]ufwRule{r(map[string]any{"port": "22", "proto": "udp"})}, "deny", "198.18.0.1", false},
		{[]ufwRule{r(map[string]any{"port": "20:30", "proto": "tcp", "rule": "limit"})}, "deny", "198.18.0.1", true},
		{[]ufwRule{r(map[string]any{"port": "22", "from": "198.18.0.0/24"})}, "deny", "198.18.0.1", true},
		{[]ufwRule{r(map[string]any{"port": "22", "from": "10.0.0.0/8"})}, "deny", "198.18.0.1", false},
		{[]ufwRule{r(map[string]any{"port": "22", "from": "10.0.0.0/8"})}, "deny", "", false},
		{[]ufwRule{r(map[string]any{"port": "22", "rule": "deny"}), r(map[string]any{"port": "22"})}, "allow", "198.18.0.1", false},
		{[]ufwRule{r(map[string]any{"port": "22", "direction": "out"})}, "deny", "198.18.0.1", false},
	}
	for i, c := range cases {
		if got := ufwAllowsSSH(c.rules, c.def, 22, c.client); got != c.ok {
			t.Errorf("case %d: got %v want %v", i, got, c.ok)
		}
	}
}

// ESP and other non-port protocols, by name or number, and rules wanted
// absent: parsed back from ufw's own tuple lines, planned once, then no-op.
func TestUfwProtocolsAndAbsent(t *testing.T) {
	want, err := ufwDesired([]any{
		map[string]any{"proto": "50", "from": "198.18.0.12", "comment": "swarm encrypted overlay"},
		map[string]any{"proto": "AH", "from": "198.18.0.12"},
		map[string]any{"port": "2377", "proto": "tcp", "state": "absent"},
		map[string]any{"port": "4789", "proto": "udp", "state": "absent"},
		map[string]any{"port": "4789", "proto": "udp", "from": "198.18.0.12"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want[0].Proto != "esp" || want[1].Proto != "ah" {
		t.Errorf("protos %q %q", want[0].Proto, want[1].Proto)
	}
	for _, bad := range []map[string]any{{"proto": "esp", "port": "50"}, {"proto": "99"}, {"proto": "icmp"}, {"port": "22", "state": "gone"}} {
		if _, err := ufwDesired([]any{bad}); err == nil {
			t.Errorf("ufwDesired(%v): want an error", bad)
		}
	}
	// What ufw 0.36 writes for the old open-to-all rules and an esp rule.
	rules := "### tuple ### allow tcp 2377 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 2377 -j ACCEPT\n" +
		"### tuple ### allow esp any 0.0.0.0/0 any 198.18.0.12 in comment=737761726d20656e63727970746564206f7665726c6179\n" +
		"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
	obs := ufwObserved{Rules: ufwParseRules(rules), Conf: ufwConf("ENABLED=yes\n"), Defaults: ufwConf("DEFAULT_INPUT_POLICY=\"DROP\"\n"), Live: true}
	plan := ufwMakePlan(obs, want, Params{})
	desc := strings.Join(ufwDescribe(plan, obs), "\n")
	exp := "- allow in 2377/tcp\n+ allow in proto ah from 198.18.0.12\n+ allow in 4789/udp from 198.18.0.12"
	if desc != exp {
		t.Errorf("plan:\n%s\nwant\n%s", desc, exp)
	}
	if s := ufwScript(plan); !strings.Contains(s, "ufw allow in proto ah from 198.18.0.12 to any\n") || !strings.Contains(s, "ufw --force delete allow in proto tcp from any to any port 2377\n") {
		t.Errorf("script:\n%s", s)
	}
	obs.Rules = plan.Final
	if p2 := ufwMakePlan(obs, want, Params{}); !p2.empty() {
		t.Errorf("second plan: %v", ufwDescribe(p2, obs))
	}
}
