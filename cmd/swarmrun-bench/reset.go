package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// The sysctls prep.star and prep.yml set (net.*: per network namespace).
var benchSysctls = []string{
	"net.ipv4.ip_forward",
	"net.core.somaxconn",
	"net.ipv4.tcp_max_syn_backlog",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_time",
}

// Files the preparation writes (and their backups), removed by a reset.
var benchFiles = []string{
	"/etc/sysctl.d/99-bench.conf",
	"/etc/modules-load.d/bench.conf",
	"/etc/modprobe.d/bench.conf",
	"/etc/docker/daemon.json",
	"/etc/docker/daemon.json.bak",
	"/etc/security/limits.d/99-bench.conf",
}

// resetter puts hosts back into their state before any preparation, with
// the bench's own SSH client (not with either tool under test).
type resetter struct {
	pool     *sshPool
	mu       sync.Mutex
	baseline map[string][]string // host -> live values of benchSysctls before the first run
}

// recordBaseline reads the live sysctl values of hosts not yet recorded.
func (r *resetter) recordBaseline(ctx context.Context, hosts []labHost) error {
	var todo []labHost
	r.mu.Lock()
	for _, h := range hosts {
		if _, ok := r.baseline[h.Name]; !ok {
			todo = append(todo, h)
		}
	}
	r.mu.Unlock()
	return r.pool.onAll(ctx, todo, func(h labHost, c *ssh.Client) error {
		out, err := output(c, "sysctl -n "+strings.Join(benchSysctls, " "))
		if err != nil {
			return err
		}
		vals := strings.Split(strings.TrimSpace(out), "\n")
		if len(vals) != len(benchSysctls) {
			return fmt.Errorf("sysctl gave %d values, want %d: %q", len(vals), len(benchSysctls), out)
		}
		r.mu.Lock()
		r.baseline[h.Name] = vals
		r.mu.Unlock()
		return nil
	})
}

// reset undoes the preparation on hosts: ufw reset (disabled, stock rules,
// its backups removed), the written files removed, the sysctls back to
// their recorded live values.
func (r *resetter) reset(ctx context.Context, hosts []labHost) error {
	if err := r.recordBaseline(ctx, hosts); err != nil {
		return err
	}
	return r.pool.onAll(ctx, hosts, func(h labHost, c *ssh.Client) error {
		r.mu.Lock()
		vals := r.baseline[h.Name]
		r.mu.Unlock()
		var b strings.Builder
		b.WriteString("set -e; ufw --force reset >/dev/null; rm -f /etc/ufw/*.rules.[0-9]*")
		b.WriteString("; rm -f " + strings.Join(benchFiles, " "))
		b.WriteString("; sysctl -q -w")
		for i, k := range benchSysctls {
			fmt.Fprintf(&b, " %s=%s", k, strings.TrimSpace(vals[i]))
		}
		_, err := output(c, b.String())
		return err
	})
}
