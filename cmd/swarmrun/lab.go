package main

import "github.com/urfave/cli/v2"

// labCommand is replaced by the lab implementation.
func labCommand() *cli.Command {
	return &cli.Command{Name: "lab", Usage: "run local test hosts (not built yet)"}
}
