package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/swarmrun/swarmrun/runtime/lab"
	"github.com/urfave/cli/v2"
)

// labCommand maps `swarmrun lab ...` onto package lab.
func labCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "lab directory", EnvVars: []string{"SWARMRUN_LAB_DIR"}, Value: lab.DefaultDir}
	return &cli.Command{
		Name:  "lab",
		Usage: "run local test hosts (network namespaces with sshd and dockerd)",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start a lab and write its inventory, key and known_hosts into --dir",
				Flags: []cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "hosts", Value: 3, Usage: "number of hosts"},
					&cli.IntFlag{Name: "managers", Value: 1, Usage: "hosts in the managers group (the first ones)"},
					&cli.BoolFlag{Name: "no-docker", Usage: "hosts without dockerd"},
					&cli.IntFlag{Name: "net", Value: 0, Usage: "network number K: hosts at 198.18.K.(10+i), names carry K"},
					&cli.BoolFlag{Name: "fresh", Usage: "hosts like new cloud VMs: a clean Debian booted with systemd, sudo user admin, no Docker"},
					&cli.StringFlag{Name: "distro", Value: lab.DefaultDistro, Usage: "with --fresh: debian-12 or debian-13"},
				},
				Action: labUp,
			},
			{
				Name:   "status",
				Usage:  "show the hosts of a lab and whether they answer",
				Flags:  []cli.Flag{dirFlag},
				Action: labStatus,
			},
			{
				Name:      "ssh",
				Usage:     "log in to a lab host (or run a command there) with the lab's key",
				ArgsUsage: "HOST [COMMAND...]",
				Flags:     []cli.Flag{dirFlag},
				Action:    labSSH,
			},
			{
				Name:  "down",
				Usage: "stop a lab and remove everything it made",
				Flags: []cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "net", Value: -1, Usage: "also remove what network number K left behind without a state file"},
					&cli.BoolFlag{Name: "purge", Usage: "also remove the cached root filesystems of fresh hosts (" + lab.ImageCacheDir + ")"},
				},
				Action: labDown,
			},
			{
				Name:      "reboot",
				Usage:     "reboot fresh hosts (systemctl reboot inside) and wait until they are back",
				ArgsUsage: "HOST...",
				Flags:     []cli.Flag{dirFlag},
				Action:    labReboot,
			},
		},
	}
}

// labUp starts a lab and prints how to use it.
func labUp(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := lab.Up(ctx, lab.Options{
		Dir: c.String("dir"), Hosts: c.Int("hosts"), Managers: c.Int("managers"),
		Net: c.Int("net"), NoDocker: c.Bool("no-docker"), Log: os.Stderr,
		Fresh: c.Bool("fresh"), Distro: c.String("distro"),
	})
	if err != nil {
		return err
	}
	l.PrintUsage(os.Stdout)
	return nil
}

// labStatus prints a lab's hosts; it exits 1 when one does not answer.
func labStatus(c *cli.Context) error {
	l, hs, err := lab.Status(c.String("dir"))
	if errors.Is(err, os.ErrNotExist) {
		return cli.Exit(fmt.Sprintf("no lab in %s", c.String("dir")), 3)
	}
	if err != nil {
		return err
	}
	fmt.Printf("lab %d in %s, phase %s, inventory %s\n", l.Net, l.Dir, l.Phase, l.Inventory())
	fmt.Printf("%-6s %-15s %-8s %-7s %-5s %-6s", "HOST", "ADDRESS", "GROUP", "RUNNING", "SSH", "DOCKER")
	if l.Fresh {
		fmt.Printf(" %-5s %s", "BOOTS", "SYSTEM")
	}
	fmt.Println()
	down := false
	for _, h := range hs {
		g := "workers"
		if h.Manager {
			g = "managers"
		}
		fmt.Printf("%-6s %-15s %-8s %-7v %-5v %-6s", h.Name, h.Addr, g, h.Running, h.SSH, h.Docker)
		if l.Fresh {
			fmt.Printf(" %-5d %s", h.Boots, h.System)
		}
		fmt.Println()
		down = down || !h.Running || !h.SSH || h.Docker == "down"
	}
	if down {
		return cli.Exit("", 1)
	}
	return nil
}

// labSSH replaces swarmrun with ssh to a lab host.
func labSSH(c *cli.Context) error {
	if c.NArg() < 1 {
		return cli.Exit("usage: swarmrun lab ssh [--dir D] HOST [COMMAND...]", 2)
	}
	l, err := lab.Load(c.String("dir"))
	if err != nil {
		return err
	}
	h, ok := l.Host(c.Args().First())
	if !ok {
		return cli.Exit(fmt.Sprintf("no host %q in the lab in %s", c.Args().First(), l.Dir), 2)
	}
	args := l.SSHArgs(h)
	if c.NArg() == 1 {
		args = append([]string{"-t"}, args...)
	}
	if l.Fresh && c.NArg() > 1 {
		args = append(args, "sudo") // the login user is admin; commands run as root, as on the clones
	}
	args = append(args, c.Args().Tail()...)
	path, err := exec.LookPath("ssh")
	if err != nil {
		return err
	}
	// Hand the terminal to ssh entirely; its exit code is ours.
	return syscall.Exec(path, append([]string{"ssh"}, args...), os.Environ())
}

// labDown removes a lab (and, with --purge, the cached images).
func labDown(c *cli.Context) error {
	if err := lab.DownNet(c.String("dir"), c.Int("net")); err != nil {
		return err
	}
	if c.Bool("purge") {
		return lab.PurgeImages()
	}
	return nil
}

// labReboot reboots fresh hosts and waits for them.
func labReboot(c *cli.Context) error {
	if c.NArg() < 1 {
		return cli.Exit("usage: swarmrun lab reboot [--dir D] HOST...", 2)
	}
	return lab.Reboot(c.Context, c.String("dir"), c.Args().Slice())
}
