package lab

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/swarmrun/swarmrun/runtime/shellwords"
)

// run executes a machine command and folds its output into the error.
func run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// linkExists reports whether a network interface exists in the machine's namespace.
func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// mirrorNames are the package mirror host names pinned in every host's
// /etc/hosts and the only outside destinations the lab may reach.
func mirrorNames() []string {
	names := map[string]bool{"deb.debian.org": true, "security.debian.org": true}
	// The machine's enabled apt sources name the mirror it actually uses.
	for _, h := range aptSourceHosts() {
		names[h] = true
	}
	return slices.Sorted(maps.Keys(names))
}

// aptSourceHosts lists the host names in the machine's enabled apt sources
// (one-line .list and deb822 .sources files); disabled files are skipped by
// their extension, as apt does.
func aptSourceHosts() []string {
	var hosts []string
	for _, f := range aptSourceFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, h := range uriHosts(string(b)) {
			if strings.HasSuffix(h, "debian.org") {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// aptSourceFiles lists the machine's enabled apt source files.
func aptSourceFiles() []string {
	files := []string{"/etc/apt/sources.list"}
	for _, pat := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	return files
}

// uriHosts returns the host names of the http(s) URIs on the uncommented
// lines of an apt sources file (either format).
func uriHosts(text string) []string {
	var hosts []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if i := strings.Index(field, "://"); i > 0 && strings.HasPrefix(field, "http") {
				h := field[i+3:]
				if j := strings.IndexAny(h, "/:"); j >= 0 {
					h = h[:j]
				}
				if h != "" {
					hosts = append(hosts, h)
				}
			}
		}
	}
	return hosts
}

// resolveMirrors resolves the mirror names to IPv4 addresses the way the
// machine does (its resolver and /etc/hosts).
func resolveMirrors(ctx context.Context) (map[string][]string, []string) {
	byName := map[string][]string{}
	seen := map[string]bool{}
	var all []string
	for _, n := range mirrorNames() {
		addrs, err := net.DefaultResolver.LookupIP(ctx, "ip4", n)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			s := a.String()
			byName[n] = append(byName[n], s)
			if !seen[s] {
				seen[s] = true
				all = append(all, s)
			}
		}
	}
	sort.Strings(all)
	return byName, all
}

// setupBridge creates the lab's bridge and the machine-side firewall rules.
func setupBridge(ctx context.Context, l *Lab) error {
	k := l.Net
	br := bridgeName(k)
	batch := fmt.Sprintf("link add %s type bridge\naddr add %s/24 dev %s\nlink set %s alias swarmrun-lab:%s\nlink set %s up\n",
		br, gatewayAddr(k), br, br, l.Dir, br)
	if _, err := run(ctx, batch, "ip", "-batch", "-"); err != nil {
		return err
	}
	// Forwarding is needed for the mirror NAT. It is a machine-wide switch
	// other labs rely on too, so `down` leaves it on.
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enable ip_forward: %w", err)
		}
	}
	return setupFirewall(ctx, l)
}

func ipt(ctx context.Context, args ...string) error {
	_, err := run(ctx, "", "iptables", append([]string{"-w", "10"}, args...)...)
	return err
}

// setupFirewall puts all of the lab's rules into one chain per table, named
// after K, with a single commented jump from the built-in chain: removal is
// then exact, also from K alone.
func setupFirewall(ctx context.Context, l *Lab) error {
	k, br, ch, cm := l.Net, bridgeName(l.Net), chainName(l.Net), ruleComment(l.Net)
	var rules [][]string
	add := func(table string, args ...string) {
		rules = append(rules, append([]string{"-t", table}, args...))
	}
	add("filter", "-N", ch)
	// Swarm needs the hosts to talk to each other; the machine's FORWARD
	// policy may be DROP (any root-namespace dockerd sets it).
	add("filter", "-A", ch, "-i", br, "-o", br, "-j", "ACCEPT")
	add("filter", "-A", ch, "-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	for _, ip := range l.MirrorIPs {
		add("filter", "-A", ch, "-i", br, "-d", ip+"/32", "-p", "tcp", "-j", "ACCEPT")
	}
	// Nothing else leaves the lab or enters it from elsewhere (other labs
	// included).
	add("filter", "-A", ch, "-i", br, "-j", "DROP")
	add("filter", "-A", ch, "-o", br, "-j", "DROP")
	add("filter", "-I", "FORWARD", "1", "-m", "comment", "--comment", cm, "-j", ch)
	// The hosts reach the machine itself even if its INPUT policy is DROP.
	add("filter", "-I", "INPUT", "1", "-i", br, "-m", "comment", "--comment", cm, "-j", "ACCEPT")
	add("nat", "-N", ch)
	for _, ip := range l.MirrorIPs {
		add("nat", "-A", ch, "-s", subnet(k), "-d", ip+"/32", "-j", "MASQUERADE")
	}
	add("nat", "-I", "POSTROUTING", "1", "-m", "comment", "--comment", cm, "-j", ch)
	for _, r := range rules {
		if err := ipt(ctx, r...); err != nil {
			return err
		}
	}
	return nil
}

// teardownFirewall removes the jumps and chains of lab K; absent pieces are fine.
func teardownFirewall(ctx context.Context, k int) []error {
	var errs []error
	ch, cm := chainName(k), ruleComment(k)
	// Delete every rule carrying our comment, found by listing, so partial
	// setups and duplicate jumps all go.
	for _, table := range []string{"filter", "nat"} {
		out, err := run(ctx, "", "iptables-save", "-t", table)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "-A ") || !strings.Contains(line, "--comment "+cm+" ") && !strings.HasSuffix(line, "--comment "+cm) {
				continue
			}
			args := append([]string{"-t", table, "-D"}, shellwords.Fields(line[3:])...)
			if err := ipt(ctx, args...); err != nil {
				errs = append(errs, err)
			}
		}
		if strings.Contains(out, ":"+ch+" ") {
			if err := ipt(ctx, "-t", table, "-F", ch); err != nil {
				errs = append(errs, err)
			}
			if err := ipt(ctx, "-t", table, "-X", ch); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// setupHostLinks creates the named network namespaces and veth pairs for the
// hosts in one `ip -batch` (cheap even for 50 hosts) and configures each
// namespace with one more.
func setupHostLinks(ctx context.Context, l *Lab) error {
	var b strings.Builder
	for _, h := range l.Hosts {
		fmt.Fprintf(&b, "netns add %s\n", h.Netns)
		fmt.Fprintf(&b, "link add %s type veth peer name eth0 netns %s\n", h.Veth, h.Netns)
		fmt.Fprintf(&b, "link set %s master %s up\n", h.Veth, bridgeName(l.Net))
	}
	if _, err := run(ctx, b.String(), "ip", "-batch", "-"); err != nil {
		return err
	}
	for _, h := range l.Hosts {
		nb := fmt.Sprintf("link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\nroute add default via %s\n", h.Addr, gatewayAddr(l.Net))
		if _, err := run(ctx, nb, "ip", "-n", h.Netns, "-batch", "-"); err != nil {
			return err
		}
	}
	return nil
}
