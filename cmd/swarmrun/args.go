package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a subcommand's positional arguments after its flags, so
// `swarmrun play site.star -i hosts` works as users type it: urfave/cli v2
// stops parsing flags at the first positional argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	i := 1
	for ; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			cmd = app.Command(args[i])
			break
		}
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		if cmd != nil && i+1 < len(args) {
			// lab up|down|...: one level deeper.
			sub := &cli.App{Commands: cmd.Subcommands}
			rest := interspersed(sub, append([]string{""}, args[i+1:]...))
			return append(append([]string{}, args[:i+1]...), rest[1:]...)
		}
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	flags := append([]string{}, args[:i+1]...)
	var positional []string
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			positional = append(positional, args[j+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
			continue
		}
		positional = append(positional, a)
		if cmd.Name == "ssh" {
			// lab ssh HOST COMMAND...: the command's own flags stay its own.
			positional = append(positional, args[j+1:]...)
			break
		}
	}
	if len(positional) > 0 {
		flags = append(flags, "--")
	}
	return append(flags, positional...)
}
