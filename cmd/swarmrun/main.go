// Command swarmrun plays Starlark playbooks over SSH against an Ansible-style
// inventory. This package only maps flags to runtime calls.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	app := &cli.App{
		Name:    "swarmrun",
		Usage:   "turn Debian/Ubuntu hosts into a Docker Swarm with Starlark playbooks over SSH",
		Version: version,
		Commands: []*cli.Command{
			playCommand(),
			factsCommand(),
			inventoryCommand(),
			modulesCommand(),
			docCommand(),
			labCommand(),
			vaultCommand(),
			runCommand(),
			configCommand(),
			shellCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {},
		// -e takes JSON; commas are not separators (tags split themselves).
		DisableSliceFlagSeparator: true,
	}
	if err := app.Run(interspersed(app, expandVerbose(os.Args))); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "swarmrun:", msg)
		}
		if ec, ok := err.(cli.ExitCoder); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
