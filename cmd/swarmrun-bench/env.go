package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// Env describes the machine and the versions measured.
type Env struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MemGB      string `json:"mem_gb"`
	Kernel     string `json:"kernel"`
	Debian     string `json:"debian"`
	Ansible    string `json:"ansible"`
	Collection string `json:"collections"`
	Python     string `json:"python"`
	OpenSSH    string `json:"openssh"`
	Go         string `json:"go"`
	Swarmrun   string `json:"swarmrun"`
	Commit     string `json:"commit"`
	LoadAvg    string `json:"loadavg"`
	LoadAvgEnd string `json:"loadavg_end"`
	OtherNetns int    `json:"other_netns"` // network namespaces of other labs at the start
}

func collectEnv(root, swarmrun string, net int) Env {
	e := Env{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.*)$`).FindSubmatch(b); m != nil {
			e.CPUModel = strings.TrimSpace(string(m[1]))
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s*(\d+) kB`).FindSubmatch(b); m != nil {
			e.MemGB = gb(string(m[1]))
		}
	}
	e.Kernel = cmdOutput("uname", "-r")
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		e.Debian = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if m := regexp.MustCompile(`(?m)^PRETTY_NAME="?([^"\n]*)`).FindSubmatch(b); m != nil {
			e.Debian = string(m[1]) + " (" + e.Debian + ")"
		}
	}
	e.Ansible = firstLine(cmdOutput("ansible", "--version"))
	if out, err := exec.Command("ansible-galaxy", "collection", "list").Output(); err == nil {
		var parts []string
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && (f[0] == "community.general" || f[0] == "ansible.posix") {
				parts = append(parts, f[0]+" "+f[1])
			}
		}
		e.Collection = strings.Join(dedupe(parts), ", ")
	}
	e.Python = firstLine(cmdOutput("/usr/bin/python3", "--version"))
	e.OpenSSH = firstLine(cmdOutput("ssh", "-V"))
	e.Swarmrun = firstLine(cmdOutput(swarmrun, "--version"))
	e.Commit = cmdOutput("git", "-C", root, "describe", "--always", "--dirty")
	e.LoadAvg = loadAvg()
	for _, l := range strings.Split(cmdOutput("ip", "netns", "list"), "\n") {
		if l != "" && l != "unknown" && !strings.HasPrefix(l, fmt.Sprintf("srlab%d-", net)) {
			e.OtherNetns++
		}
	}
	return e
}

func gb(kb string) string {
	n, _ := strconv.ParseFloat(kb, 64)
	return fmt.Sprintf("%.1f", n/1024/1024)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
