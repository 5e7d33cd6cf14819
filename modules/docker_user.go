package modules

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	Register(&Module{
		Name: "docker_user",
		Doc: `Restrict who reaches the ports Docker publishes, in Docker's DOCKER-USER chain.
Ports Docker publishes are DNATed to containers and cross the FORWARD chain,
not INPUT: ufw's rules (and its "deny incoming") never see them. Docker sends
that traffic through the DOCKER-USER chain first and leaves the chain's
content alone; this module owns that chain. Each rule names a published port
and the sources allowed to reach it; other sources are dropped. Ports not
listed, and ports "from": "any", stay open to all.

Rules match the connection's original destination port (conntrack
--ctorigdstport, connections Docker DNATed only), so they hold for host-mode
ports (DNAT to the container's port) and for the routing mesh (DNAT to the
ingress sandbox) alike, and never touch the containers' own outgoing
connections. IPv4 only.

Persistence: the same rules are kept in a marked block of
/etc/ufw/after.rules, which ufw loads at boot and on every reload (before or
after Docker starts: Docker keeps DOCKER-USER's content and only adds its
jump). A Docker restart leaves the chain as it is. The live chain and the
file are both compared, so a flushed chain is restored on the next run.

    docker_user(hosts("all"), rules = [
        {"port": "8080", "from": "any", "comment": "web"},
        {"port": "8081", "from": ["192.0.2.0/28"], "comment": "admin UI"},
    ])`,
		Params: []Param{
			{Name: "rules", Type: List, Required: true, Doc: `list of dicts: {"port": "8081" | "8000:8010", "proto": "tcp"|"udp" (default tcp), "from": "any" | address | CIDR | list of them, "comment": text}`},
			{Name: "persist", Type: Bool, Default: true, Doc: "keep the rules in ufw's after.rules so they come back at boot and on ufw reload"},
			{Name: "file", Type: String, Default: "/etc/ufw/after.rules", Doc: "the ufw rules file holding the block (persist)"},
		},
		Outputs: map[string]string{"rules": "the DOCKER-USER rules (iptables -S form)"},
		Run:     runDockerUser,
	})
}

const (
	dockerUserBegin = "# BEGIN swarmrun DOCKER-USER: published ports (docker_user module; edits here are replaced)"
	dockerUserEnd   = "# END swarmrun DOCKER-USER"
)

// dockerUserRules turns the rules parameter into the chain's lines (iptables
// -S form, as the kernel prints them back) and comment lines for the file.
func dockerUserRules(raw []any) (lines, comments []string, err error) {
	for i, x := range raw {
		d, ok := x.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("docker_user: rules[%d] is not a dict", i)
		}
		for k := range d {
			if k != "port" && k != "proto" && k != "from" && k != "comment" {
				return nil, nil, fmt.Errorf("docker_user: rules[%d]: unknown key %q (want port, proto, from, comment)", i, k)
			}
		}
		port, err := ufwPort(hpScalar(d["port"]))
		if err != nil || port == "any" || strings.Contains(port, ",") {
			return nil, nil, fmt.Errorf("docker_user: rules[%d]: port %q: want a port or a range low:high", i, hpScalar(d["port"]))
		}
		proto := strings.ToLower(hpScalar(d["proto"]))
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, nil, fmt.Errorf("docker_user: rules[%d]: proto %q must be tcp or udp", i, proto)
		}
		from, err := dockerUserSources(d["from"])
		if err != nil {
			return nil, nil, fmt.Errorf("docker_user: rules[%d]: %w", i, err)
		}
		comment := strings.Join(append([]string{"#", port + "/" + proto}, strings.Fields(hpScalar(d["comment"]))...), " ")
		comments = append(comments, comment+": from "+strings.Join(from, ", "))
		if len(from) == 1 && from[0] == "any" {
			continue
		}
		match := fmt.Sprintf("-p %s -m conntrack --ctstate DNAT --ctorigdstport %s --ctdir ORIGINAL", proto, port)
		for _, src := range from {
			lines = append(lines, "-A DOCKER-USER -s "+src+" "+match+" -j RETURN")
		}
		lines = append(lines, "-A DOCKER-USER "+match+" -j DROP")
	}
	return append(lines, "-A DOCKER-USER -j RETURN"), comments, nil
}

// dockerUserSources canonicalises "from" the way iptables prints it
// (a single address as /32); "any" alone means open to all.
func dockerUserSources(v any) ([]string, error) {
	var in []string
	switch x := v.(type) {
	case nil:
		return nil, fmt.Errorf(`from: give "any" or the allowed addresses`)
	case []any:
		for _, e := range x {
			in = append(in, hpScalar(e))
		}
	default:
		in = []string{hpScalar(x)}
	}
	var out []string
	for _, s := range in {
		a, err := ufwAddr(s)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if a == "any" {
			return []string{"any"}, nil
		}
		if strings.Contains(a, ":") {
			return nil, fmt.Errorf("from: %s is IPv6: DOCKER-USER rules here are IPv4 only", a)
		}
		if !strings.Contains(a, "/") {
			a += "/32"
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf(`from: give "any" or the allowed addresses`)
	}
	return out, nil
}

// dockerUserBlock is the iptables-restore text: loaded live with --noflush
// and kept in after.rules. Declaring the chain flushes it first.
func dockerUserBlock(lines, comments []string) string {
	var b strings.Builder
	b.WriteString(dockerUserBegin + "\n")
	for _, c := range comments {
		b.WriteString(c + "\n")
	}
	b.WriteString("*filter\n:DOCKER-USER - [0:0]\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n" + dockerUserEnd + "\n")
	return b.String()
}

// dockerUserEditFile replaces the marked block in content, or appends it.
func dockerUserEditFile(content, block string) string {
	if i := strings.Index(content, dockerUserBegin); i >= 0 {
		if j := strings.Index(content[i:], dockerUserEnd); j >= 0 {
			rest := strings.TrimPrefix(content[i+j+len(dockerUserEnd):], "\n")
			return content[:i] + block + rest
		}
	}
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return content + block
}

func runDockerUser(ctx context.Context, t *Target, p Params) (*Result, error) {
	lines, comments, err := dockerUserRules(p.List("rules"))
	if err != nil {
		return nil, err
	}
	file := p.String("file")
	out, err := Sh(ctx, t, strings.Join([]string{
		"export LC_ALL=C",
		"command -v iptables-restore >/dev/null 2>&1 && " + hpSection("iptables"),
		hpSection("live") + "; iptables -w -S DOCKER-USER 2>/dev/null",
		hpSection("file") + "; " + hpReadFiles(file),
		"true",
	}, "\n"))
	if err != nil {
		return nil, fmt.Errorf("docker_user: reading DOCKER-USER: %w", err)
	}
	sec := hpSections(out)
	var live []string
	for _, l := range strings.Split(sec["live"], "\n") {
		if strings.HasPrefix(l, "-A ") {
			live = append(live, l)
		}
	}
	block := dockerUserBlock(lines, comments)
	before, hasFile := hpFiles(sec["file"], []string{file})[file]
	after := dockerUserEditFile(before, block)
	liveOK := strings.Join(live, "\n") == strings.Join(lines, "\n")
	fileOK := !p.Bool("persist") || hasFile && before == after
	plan := NewPlan("docker_user", fmt.Sprintf("DOCKER-USER already as wanted (%d rules)", len(lines)))
	load := func(ctx context.Context) error {
		_, err := Sh(ctx, t, "printf '%s' "+Quote(block)+" | iptables-restore -w 10 --noflush")
		return err
	}
	if !fileOK {
		// The file first, as before; the chain is loaded after it in
		// any case.
		plan.Add("update "+file, FileDiff(file, before, after), func(ctx context.Context) error {
			if err := hpWriteFile(ctx, t, file, []byte(after), 0o640); err != nil || !liveOK {
				return err
			}
			return load(ctx)
		})
	}
	if !liveOK {
		plan.Add(fmt.Sprintf("load %d rules into DOCKER-USER", len(lines)), FileDiff("DOCKER-USER (live)", strings.Join(live, "\n")+"\n", strings.Join(lines, "\n")+"\n"), load)
	}
	res := &Result{Outputs: map[string]any{"rules": preflightAnyList(lines)}}
	_, hasIptables := sec["iptables"]
	if !plan.Empty() && (p.Bool("persist") && !hasFile || !hasIptables) {
		if !t.Check {
			return nil, fmt.Errorf("docker_user: %s needs iptables-restore and, to keep the rules across reboots, ufw's %s (install ufw, or persist = False)", t.Name, file)
		}
		plan.Note("ufw/iptables not installed (assuming an earlier step installs them)")
	}
	return plan.Apply(ctx, t, res)
}
