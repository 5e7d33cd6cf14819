package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime"
	"github.com/urfave/cli/v2"
)

func modulesCommand() *cli.Command {
	return &cli.Command{
		Name:  "modules",
		Usage: "list the built-in modules",
		Action: func(c *cli.Context) error {
			for _, m := range modules.All() {
				fmt.Printf("%-16s %s\n", m.Name, summary(m.Doc))
			}
			return nil
		},
	}
}

func docCommand() *cli.Command {
	return &cli.Command{
		Name:      "doc",
		Usage:     "show a module's parameters, outputs and example",
		ArgsUsage: "MODULE",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "markdown", Usage: "print the reference of every module as Markdown (docs/modules.md)"}},
		Action: func(c *cli.Context) error {
			if c.Bool("markdown") {
				fmt.Print(runtime.ModulesMarkdown())
				return nil
			}
			if c.NArg() != 1 {
				return cli.Exit("usage: swarmrun doc MODULE (swarmrun modules lists them)", 1)
			}
			m, ok := modules.Get(c.Args().First())
			if !ok {
				var names []string
				for _, m := range modules.All() {
					names = append(names, m.Name)
				}
				return cli.Exit(fmt.Sprintf("no module %q; modules: %s", c.Args().First(), strings.Join(names, ", ")), 1)
			}
			fmt.Print(runtime.ModuleText(m))
			return nil
		},
	}
}

func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "show the inventory as Ansible does (--list JSON or --graph)",
		Flags: append([]cli.Flag{
			inventoryFlag(), extraVarsFlag,
			&cli.StringFlag{Name: "playbook-dir", Usage: "read group_vars/ and host_vars/ of this `DIR` (default: the working directory)"},
			&cli.BoolFlag{Name: "list", Usage: "JSON in the shape of ansible-inventory --list"},
			&cli.BoolFlag{Name: "graph", Usage: "the group tree"},
			&cli.StringFlag{Name: "host", Usage: "one host's merged variables as JSON"},
		}, vaultFlags()...),
		Before: applyAnsibleCfg,
		Action: func(c *cli.Context) error {
			pbDir := c.String("playbook-dir")
			if pbDir == "" {
				pbDir, _ = os.Getwd()
			}
			inv, _, err := loadInventory(c, pbDir)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			switch {
			case c.String("host") != "":
				out, err := inv.HostJSON(c.String("host"))
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				os.Stdout.Write(out)
				fmt.Println()
				return nil
			case c.Bool("graph"):
				fmt.Print(inv.Graph())
				return nil
			default:
				out, err := inv.ListJSON()
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				os.Stdout.Write(out)
				fmt.Println()
				return nil
			}
		},
	}
}

func summary(doc string) string {
	line, _, _ := strings.Cut(doc, "\n")
	return line
}
