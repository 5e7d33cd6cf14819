package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmrun/swarmrun/inventory"
	"github.com/swarmrun/swarmrun/runtime"
	"github.com/swarmrun/swarmrun/runtime/connection"
	"github.com/urfave/cli/v2"
	"go.starlark.net/starlark"
	"golang.org/x/term"
)

// inventoryFlag is repeatable, as in Ansible: files (INI, YAML, TOML),
// directories of them, or "h1,h2," host lists, read in order.
func inventoryFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "Ansible inventory `FILE`, directory or \"h1,h2,\" list (repeatable)", Value: cli.NewStringSlice("hosts"), EnvVars: []string{"SWARMRUN_INVENTORY"}}
}

var extraVarsFlag = &cli.StringSliceFlag{Name: "extra-vars", Aliases: []string{"e"}, Usage: "set variables: `k=v`, JSON, or @file.json|yml (repeatable)"}

// hostsCommand is a command that runs on inventory hosts: it takes the
// play flags (plus extra) and reads ansible.cfg first.
func hostsCommand(name, usage, args string, action cli.ActionFunc, extra ...cli.Flag) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, ArgsUsage: args, Flags: append(playFlags(), extra...), Before: applyAnsibleCfg, Action: action}
}

func playCommand() *cli.Command {
	return hostsCommand("play", "run a Starlark playbook against the inventory", "PLAYBOOK", play)
}

// factsCommand prints the facts of the hosts a pattern selects, as JSON.
func factsCommand() *cli.Command {
	return hostsCommand("facts", "gather and print hosts' facts (os, distro, arch, kernel, addresses...) as JSON", "[PATTERN]",
		func(c *cli.Context) error {
			pattern := "all"
			if c.NArg() > 0 {
				pattern = c.Args().First()
			}
			src := fmt.Sprintf("r = facts(%s)\nfor x in r.results:\n    print(json.encode({\"host\": x.host.name, \"facts\": x.outputs}))\n", strconv.Quote(pattern))
			wd, _ := os.Getwd()
			return run(c, filepath.Join(wd, "<facts>"), []byte(src))
		})
}

func playFlags() []cli.Flag {
	flags := []cli.Flag{
		inventoryFlag(),
		&cli.BoolFlag{Name: "check", Aliases: []string{"C"}, Usage: "dry run: report what would change, change nothing"},
		&cli.BoolFlag{Name: "diff", Aliases: []string{"D"}, Usage: "show the differences of changed files and settings"},
		&cli.StringFlag{Name: "limit", Aliases: []string{"l"}, Usage: "only hosts matching this host `PATTERN`"},
		&cli.StringSliceFlag{Name: "tags", Aliases: []string{"t"}, Usage: "run only steps with these tags"},
		&cli.StringSliceFlag{Name: "skip-tags", Usage: "skip steps with these tags"},
		&cli.IntFlag{Name: "forks", Aliases: []string{"f"}, Value: 256, Usage: "hosts worked on at once"},
		&cli.IntFlag{Name: "max-fail-percentage", Value: -1, Usage: "stop the run once more than `N` percent of the hosts failed (default: never)"},
		extraVarsFlag,
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "SSH user when the inventory sets none"},
		&cli.StringFlag{Name: "private-key", Aliases: []string{"key-file"}, Usage: "SSH private key `FILE`"},
		&cli.BoolFlag{Name: "become", Aliases: []string{"b"}, Usage: "run every step through sudo"},
		&cli.BoolFlag{Name: "ask-become-pass", Aliases: []string{"K"}, Usage: "prompt for the sudo password (or set SWARMRUN_BECOME_PASSWORD)"},
		&cli.StringFlag{Name: "become-user", Usage: "the `USER` steps run as with become (default root; ansible_become_user per host)"},
		&cli.StringFlag{Name: "become-method", Value: "sudo", Usage: "sudo, or su (only from a root login: su then asks no password)"},
		&cli.IntFlag{Name: "timeout", Aliases: []string{"T"}, Usage: "SSH connect timeout in `SECONDS` (default 10)"},
		&cli.StringFlag{Name: "ssh-common-args", Usage: "OpenSSH `-o Key=Value` options applied to every host (as ansible_ssh_common_args)"},
		&cli.StringFlag{Name: "host-key-checking", Value: "strict", Usage: "strict | accept-new | off"},
		&cli.StringFlag{Name: "known-hosts", Usage: "known_hosts `FILE` (default ~/.ssh/known_hosts)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "human", Usage: "human | json"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Count: &verbosity, Usage: "-v messages of unchanged steps, -vv modules' stdout/stderr, -vvv commands sent, -vvvv SSH details"},
		&cli.BoolFlag{Name: "list-hosts", Usage: "list each step's hosts without connecting, then stop"},
		&cli.BoolFlag{Name: "syntax-check", Usage: "parse, resolve load()s and validate module arguments without connecting, then stop"},
		&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 6 when every host is ok and something changed (with --check: would change)"},
	}
	return append(flags, vaultFlags()...)
}

func play(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: swarmrun play PLAYBOOK -i INVENTORY (see swarmrun play --help)", runtime.ExitError)
	}
	playbook, err := filepath.Abs(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), runtime.ExitError)
	}
	src, err := os.ReadFile(playbook)
	if err != nil {
		return cli.Exit(fmt.Sprintf("playbook: %v", err), runtime.ExitError)
	}
	return run(c, playbook, src)
}

// run plays src (named filename) with the flags of c: the play command's
// work, shared by facts and the ad-hoc commands.
func run(c *cli.Context, filename string, src []byte) error {
	inv, extra, err := loadInventory(c, filepath.Dir(filename))
	if err != nil {
		return cli.Exit(err.Error(), runtime.ExitError)
	}
	limit, err := limitHosts(c, inv)
	if err != nil {
		return cli.Exit(err.Error(), runtime.ExitError)
	}
	base, err := connConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), runtime.ExitError)
	}
	rep, err := reporter(c)
	if err != nil {
		return cli.Exit(err.Error(), runtime.ExitError)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	debug := &debugLog{w: os.Stderr}
	var plan *planner
	if c.Bool("list-hosts") || c.Bool("syntax-check") {
		plan = &planner{}
	}
	eng := runtime.New(ctx, runtime.Options{
		Check:          c.Bool("check"),
		Diff:           c.Bool("diff"),
		Forks:          c.Int("forks"),
		Tags:           splitList(c.StringSlice("tags")),
		SkipTags:       splitList(c.StringSlice("skip-tags")),
		Limit:          limit,
		Become:         c.Bool("become"),
		MaxFailPercent: c.Int("max-fail-percentage"),
		ExtraVars:      extra,
		GlobalVars:     inv.GroupVars("all"),
		Vault:          inv.Vault().Secrets(),
		Match:          runtime.MatchInventory(inv),
		Dial: func(ctx context.Context, name string, vars map[string]any) (connection.Conn, error) {
			if plan != nil {
				return nil, errors.New("not connecting in --list-hosts/--syntax-check")
			}
			return dialVerbose(ctx, connection.FromVars(name, vars, base), debug)
		},
		Reporter: rep,
		Plan:     plan.record(),
	})
	defer eng.Close()
	debug.redact = eng.Redactor()
	eng.Redactor().Add(base.BecomePassword)
	for _, s := range inv.Secrets() {
		eng.Redactor().Add(s)
	}
	start := time.Now()
	err = eng.PlaySource(filename, src)
	if plan != nil {
		return plan.finish(c, filename, err, eng.Redactor())
	}
	return finishRun(c, eng, rep, err, start)
}

// finishRun prints the recap and maps the outcome to the exit code.
func finishRun(c *cli.Context, eng *runtime.Engine, rep runtime.Reporter, err error, start time.Time) error {
	recap := eng.Recap()
	if len(recap) > 0 || err == nil {
		rep.Recap(recap, time.Since(start))
	}
	switch {
	case errors.Is(err, runtime.ErrInterrupted):
		return cli.Exit("interrupted", runtime.ExitInterrupted)
	case errors.Is(err, runtime.ErrMaxFail):
		return cli.Exit(eng.Redactor().Redact(err.Error()), runtime.ExitFailed)
	case err != nil:
		return playError(err, eng.Redactor())
	}
	code := runtime.ExitCode(recap)
	if c.Bool("detailed-exitcode") {
		code = runtime.DetailedExitCode(recap)
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// limitHosts resolves --limit to a set of host names (nil: no limit).
func limitHosts(c *cli.Context, inv *inventory.Inventory) (map[string]bool, error) {
	p := c.String("limit")
	if p == "" {
		return nil, nil
	}
	hs, err := inv.Match(p)
	if err != nil {
		return nil, fmt.Errorf("--limit: %v", err)
	}
	limit := map[string]bool{}
	for _, h := range hs {
		limit[h.Name] = true
	}
	return limit, nil
}

// connConfig is the SSH settings every host starts from.
func connConfig(c *cli.Context) (connection.Config, error) {
	base := connection.Config{
		User:            c.String("user"),
		HostKeyChecking: c.String("host-key-checking"),
		KnownHostsFile:  c.String("known-hosts"),
		BecomeUser:      c.String("become-user"),
	}
	switch base.HostKeyChecking {
	case "strict", "accept-new", "off":
	default:
		return base, errors.New("--host-key-checking must be strict, accept-new or off")
	}
	switch base.BecomeMethod = c.String("become-method"); base.BecomeMethod {
	case "sudo", "su":
	default:
		return base, fmt.Errorf("become method %q is not supported: sudo or su (su only from a root login)", base.BecomeMethod)
	}
	if k := c.String("private-key"); k != "" {
		base.KeyFiles = []string{k}
	}
	if n := c.Int("timeout"); n > 0 {
		base.ConnectTimeout = time.Duration(n) * time.Second
	}
	base.ApplySSHArgs(c.String("ssh-common-args"))
	if pw, ok := os.LookupEnv("SWARMRUN_BECOME_PASSWORD"); ok {
		base.BecomePassword = pw
	} else if c.Bool("ask-become-pass") {
		fmt.Fprint(os.Stderr, "BECOME password: ")
		pw, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return base, fmt.Errorf("reading the sudo password: %v", err)
		}
		base.BecomePassword = string(pw)
	}
	return base, nil
}

// reporter is the output format --output asks for.
func reporter(c *cli.Context) (runtime.Reporter, error) {
	switch c.String("output") {
	case "json":
		return runtime.NewJSONReporter(os.Stdout), nil
	case "human":
		hr := runtime.NewHumanReporter(os.Stdout, term.IsTerminal(int(os.Stdout.Fd())), c.Bool("diff"), verbosity > 0)
		hr.Verbosity = verbosity
		return hr, nil
	}
	return nil, errors.New("--output must be human or json")
}

// playError is a playbook error with its Starlark backtrace, masked.
func playError(err error, r *runtime.Redactor) error {
	var ee *starlark.EvalError
	msg := err.Error()
	if errors.As(err, &ee) {
		msg = ee.Backtrace()
	}
	return cli.Exit(r.Redact(msg), runtime.ExitError)
}

// loadInventory reads the -i sources; playbookDir's group_vars/host_vars
// override the inventories' (the playbook's directory, else the working
// directory, as Ansible's tools do).
func loadInventory(c *cli.Context, playbookDir string) (*inventory.Inventory, map[string]any, error) {
	vlt, err := loadVault(c)
	if err != nil {
		return nil, nil, err
	}
	inv, err := inventory.LoadSources(c.StringSlice("inventory"), inventory.Options{Vault: vlt, PlaybookDir: playbookDir})
	if err != nil {
		return nil, nil, fmt.Errorf("inventory: %v", err)
	}
	for _, w := range inv.Warnings() {
		fmt.Fprintln(os.Stderr, "swarmrun: warning: inventory:", w)
	}
	extra, err := inventory.ParseExtraVarsWith(c.StringSlice("extra-vars"), vlt)
	if err != nil {
		return nil, nil, fmt.Errorf("--extra-vars: %v", err)
	}
	if len(extra) > 0 {
		inv.SetExtraVars(extra)
	}
	return inv, extra, nil
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
