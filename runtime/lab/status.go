package lab

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
)

// HostStatus is what Status observes about one host.
type HostStatus struct {
	Host
	Running bool   `json:"running"`          // init process alive
	SSH     bool   `json:"ssh"`              // sshd answers
	Docker  string `json:"docker"`           // "up", "down" or "-" (no docker)
	Boots   int    `json:"boots,omitempty"`  // fresh hosts: boots so far
	System  string `json:"system,omitempty"` // fresh hosts: systemctl is-system-running
}

// Status reports on the lab in dir: the state file and what answers now.
func Status(dir string) (*Lab, []HostStatus, error) {
	if dir == "" {
		dir = DirFromEnv()
	}
	l, err := Load(dir)
	if err != nil {
		return nil, nil, err
	}
	out := make([]HostStatus, len(l.Hosts))
	l.eachHost(func(i int) error {
		h := l.Hosts[i]
		s := HostStatus{Host: h, Docker: "-"}
		s.Running = alive(h.PID, h.PIDStart)
		if l.Fresh {
			s.Running = freshInit(h) > 0
			s.Boots = readBoots(filepath.Join(l.Dir, "hosts", h.Name))
			s.System = systemState(context.Background(), h)
		}
		if s.Running {
			s.SSH = sshBanner(h.Addr) == nil
		}
		if l.Docker {
			s.Docker = "down"
			if s.Running && dockerPing(context.Background(), h.PID) == nil {
				s.Docker = "up"
			}
		}
		out[i] = s
		return nil
	})
	return l, out, nil
}

// PrintUsage tells a person how to use a lab that is up.
func (l *Lab) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "lab %d is up in %s (%d hosts, ready in %s)\n", l.Net, l.Dir, len(l.Hosts), l.ReadyIn)
	fmt.Fprintf(w, "  inventory:   %s\n", l.Inventory())
	fmt.Fprintf(w, "  key:         %s\n", l.KeyFile())
	fmt.Fprintf(w, "  known_hosts: %s\n", l.KnownHosts())
	switch {
	case l.Image != "" && l.Fresh:
		fmt.Fprintf(w, "  test image:  %s (archive %s; the inventory's swarm_images loads it once Docker is installed)\n", TestImage, l.Image)
	case l.Image != "":
		fmt.Fprintf(w, "  test image:  %s (loaded on every host; archive %s)\n", TestImage, l.Image)
	}
	if l.Fresh {
		fmt.Fprintf(w, "  hosts:       fresh %s, systemd, login %s with sudo, no Docker yet\n", l.Distro, FreshUser)
	}
	if len(l.Hosts) > 0 {
		h := l.Hosts[0]
		fmt.Fprintf(w, "try:\n  swarmrun lab ssh --dir %s %s hostname\n", l.Dir, h.Name)
		fmt.Fprintf(w, "  ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes %s@%s\n", l.KeyFile(), l.KnownHosts(), l.User(), h.Addr)
		fmt.Fprintf(w, "  swarmrun play PLAYBOOK -i %s\n", l.Inventory())
	}
	fmt.Fprintf(w, "stop it with: swarmrun lab down --dir %s\n", l.Dir)
}
