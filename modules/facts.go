package modules

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

func init() {
	Register(&Module{
		Name: "facts",
		Doc: `Gather facts about the host in one command; never changes anything.

The runtime uses it for host.facts. Every fact is an output (missing tools give
empty values rather than errors, so minimal hosts still answer).

Example:
    f = facts(hosts("all"))
    for h in hosts("all"):
        print(h.name, h.facts["distro"], h.facts["distro_version"])`,
		Outputs: map[string]string{
			"os":              `Kernel name, e.g. "Linux".`,
			"distro":          `ID from /etc/os-release, e.g. "debian", "ubuntu".`,
			"distro_version":  `VERSION_ID from /etc/os-release, e.g. "12".`,
			"distro_codename": `VERSION_CODENAME from /etc/os-release, e.g. "bookworm".`,
			"distro_like":     `ID_LIKE from /etc/os-release (e.g. "debian" on Ubuntu), or distro itself.`,
			"arch":            `Machine hardware name, e.g. "x86_64", "aarch64".`,
			"kernel":          `Kernel release (uname -r).`,
			"hostname":        "Short host name.",
			"fqdn":            "Fully qualified name (hostname -f), or hostname.",
			"addresses":       "Global-scope IPv4 and IPv6 addresses, without prefix length.",
			"default_ipv4":    "IPv4 address of the default route's interface, or the first global IPv4 address.",
			"init":            `"systemd" when systemd runs the host, else "sysv".`,
			"cpus":            "Number of online CPUs.",
			"memory_mb":       "Total memory in MiB.",
		},
		Run: func(ctx context.Context, t *Target, p Params) (*Result, error) {
			out, err := Sh(ctx, t, factsScript)
			if err != nil {
				return nil, fmt.Errorf("facts: %w", err)
			}
			f := parseFacts(out)
			// Read-only: an empty plan; the gate words the result.
			plan := NewPlan("facts", f["distro"].(string)+" "+f["distro_version"].(string)+" "+f["arch"].(string))
			return plan.Apply(ctx, t, &Result{Outputs: f})
		},
	})
}

// factsScript prints KEY=VALUE lines and "addr=" / "defdev=" lines. It runs
// with plain sh and tolerates missing tools. os-release is sourced in a
// subshell so its variables do not leak into the rest of the script.
const factsScript = `echo "os=$(uname -s)"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null)"
if [ -r /etc/os-release ]; then (. /etc/os-release; echo "distro=$ID"; echo "distro_version=$VERSION_ID"; echo "distro_codename=$VERSION_CODENAME"; echo "distro_like=$ID_LIKE"); fi
if ` + systemdRuns + `; then echo init=systemd; else echo init=sysv; fi
echo "cpus=$(nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
awk '/^MemTotal:/ {print "memory_kb=" $2}' /proc/meminfo 2>/dev/null
if command -v ip >/dev/null 2>&1; then
  ip -o addr show scope global 2>/dev/null | awk '{print "addr=" $2 " " $4}'
  ip -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print "defdev=" $(i+1); exit}}'
else
  for a in $(hostname -I 2>/dev/null); do echo "addr=- $a"; done
fi
true
`

// parseFacts turns factsScript's output into the facts dict.
func parseFacts(out string) map[string]any {
	f := map[string]any{}
	for _, k := range []string{"os", "distro", "distro_version", "distro_codename", "distro_like", "arch", "kernel", "hostname", "fqdn", "default_ipv4", "init"} {
		f[k] = ""
	}
	f["cpus"], f["memory_mb"] = int64(0), int64(0)
	addrs := []any{}
	type ifaddr struct{ dev, ip string }
	var v4 []ifaddr
	defdev := ""
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "cpus":
			n, _ := strconv.ParseInt(v, 10, 64)
			f["cpus"] = n
		case "memory_kb":
			n, _ := strconv.ParseInt(v, 10, 64)
			f["memory_mb"] = n / 1024
		case "addr":
			dev, ip, _ := strings.Cut(v, " ")
			ip, _, _ = strings.Cut(ip, "/")
			if ip == "" {
				continue
			}
			addrs = append(addrs, ip)
			if !strings.Contains(ip, ":") {
				v4 = append(v4, ifaddr{dev, ip})
			}
		case "defdev":
			defdev = v
		default:
			if _, known := f[k]; known {
				f[k] = v
			}
		}
	}
	f["addresses"] = addrs
	for _, a := range v4 {
		if a.dev == defdev {
			f["default_ipv4"] = a.ip
			break
		}
	}
	if f["default_ipv4"] == "" && len(v4) > 0 {
		f["default_ipv4"] = v4[0].ip
	}
	if f["fqdn"] == "" {
		f["fqdn"] = f["hostname"]
	}
	if f["distro_like"] == "" {
		f["distro_like"] = f["distro"]
	}
	return f
}
