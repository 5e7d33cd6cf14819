package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/swarmrun/swarmrun/inventory"
	"github.com/swarmrun/swarmrun/modules"
	"github.com/swarmrun/swarmrun/runtime"
	"github.com/urfave/cli/v2"
)

// runCommand is Ansible's `ansible PATTERN -m MODULE -a ARGS`.
func runCommand() *cli.Command {
	return hostsCommand("run", "ad-hoc: run one module on the hosts a pattern selects", "PATTERN -m MODULE -a 'k=v k2=\"a b\"'",
		func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: swarmrun run PATTERN -m MODULE -a 'k=v ...' -i INVENTORY", runtime.ExitError)
			}
			m, ok := modules.Get(c.String("module-name"))
			if !ok {
				return cli.Exit(fmt.Sprintf("no module %q (swarmrun modules lists them)", c.String("module-name")), runtime.ExitError)
			}
			kwargs, err := adhocArgs(m, c.String("args"))
			if err != nil {
				return cli.Exit(fmt.Sprintf("-a: %v", err), runtime.ExitError)
			}
			if !strings.Contains(c.String("args"), "task=") {
				kwargs = append(kwargs, "task = "+strconv.Quote(m.Name+" "+c.String("args")))
			}
			return runAdhoc(c, c.Args().First(), m.Name, kwargs)
		},
		&cli.StringFlag{Name: "module-name", Aliases: []string{"m"}, Value: "command", Usage: "the `MODULE` to run"},
		&cli.StringFlag{Name: "args", Aliases: []string{"a"}, Usage: "module arguments as `k=v` words (JSON for lists and dicts)"})
}

// shellCommand is `ansible PATTERN -m shell -a CMD` as one word.
func shellCommand() *cli.Command {
	return hostsCommand("shell", "ad-hoc: run a shell command on the hosts a pattern selects", "PATTERN -- COMMAND...",
		func(c *cli.Context) error {
			if c.NArg() < 2 {
				return cli.Exit("usage: swarmrun shell PATTERN -i INVENTORY -- COMMAND...", runtime.ExitError)
			}
			cmd := strings.Join(c.Args().Slice()[1:], " ")
			return runAdhoc(c, c.Args().First(), "shell", []string{"cmd = " + strconv.Quote(cmd), "task = " + strconv.Quote("shell: "+cmd)})
		})
}

// adhocArgs turns k=v words into Starlark keyword arguments, typed by the
// module's schema: bools and ints as such, lists and dicts as JSON (a
// list may also be comma-separated words).
func adhocArgs(m *modules.Module, args string) ([]string, error) {
	kv, err := inventory.ParseKV(args)
	if err != nil {
		return nil, err
	}
	types := map[string]modules.Type{"become": modules.Bool, "ignore_errors": modules.Bool, "timeout": modules.Int,
		"retries": modules.Int, "delay": modules.Int, "name": modules.String, "task": modules.String}
	for _, p := range m.Params {
		types[p.Name] = p.Type
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		v := kv[k].(string)
		t, ok := types[k]
		if !ok {
			return nil, fmt.Errorf("module %s has no argument %q (swarmrun doc %s)", m.Name, k, m.Name)
		}
		lit, err := starlarkLiteral(t, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		out = append(out, k+" = "+lit)
	}
	return out, nil
}

func starlarkLiteral(t modules.Type, v string) (string, error) {
	switch t {
	case modules.Bool:
		switch strings.ToLower(v) {
		case "true", "yes", "on", "1":
			return "True", nil
		case "false", "no", "off", "0":
			return "False", nil
		}
		return "", fmt.Errorf("%q is not a boolean", v)
	case modules.Int, modules.Float:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "", fmt.Errorf("%q is not a number", v)
		}
		return v, nil
	case modules.List, modules.Dict, modules.Any:
		var x any
		if json.Unmarshal([]byte(v), &x) == nil && (t != modules.Any || strings.ContainsAny(v[:1], "[{")) {
			return "json.decode(" + strconv.Quote(v) + ")", nil
		}
		if t == modules.List {
			parts := strings.Split(v, ",")
			for i, p := range parts {
				parts[i] = strconv.Quote(strings.TrimSpace(p))
			}
			return "[" + strings.Join(parts, ", ") + "]", nil
		}
		if t == modules.Dict {
			return "", fmt.Errorf("a dict is written as JSON, got %q", v)
		}
	}
	return strconv.Quote(v), nil
}

// adhocSource is the one-step playbook of an ad-hoc run. After the step it
// prints the hosts' output grouped: hosts with the same status and output
// share one block, as with `ansible -o` but without repeating output.
const adhocSource = `r = %s(hosts(%s), %s)
groups = {}
order = []
for x in r.results:
    o = x.outputs if x.outputs else {}
    text = o.get("stdout", "")
    if o.get("stderr", ""):
        text = (text + "\n" if text else "") + o["stderr"]
    if not text and x.msg and x.status != "ok":
        text = x.msg
    rc = (" | rc=%%s" %% o["rc"]) if "rc" in o else ""
    key = x.status.upper() + rc + " >>\n" + text
    if key not in groups:
        groups[key] = []
        order.append(key)
    groups[key].append(x.host.name)
for key in order:
    print(", ".join(groups[key]) + " | " + key)
`

func runAdhoc(c *cli.Context, pattern, module string, kwargs []string) error {
	src := fmt.Sprintf(adhocSource, module, strconv.Quote(pattern), strings.Join(kwargs, ", "))
	wd, _ := os.Getwd()
	return run(c, filepath.Join(wd, "<ad-hoc>"), []byte(src))
}
