package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// cfgSetting maps one ansible.cfg setting (and its ANSIBLE_* variable) to
// the flag it provides a default for. Flags given on the command line win,
// then the environment variable, then ansible.cfg, as in Ansible.
type cfgSetting struct {
	section, key, env, flag string
	convert                 func(string) (string, error) // to the flag's syntax; nil: as is
}

var cfgSettings = []cfgSetting{
	{"defaults", "inventory", "ANSIBLE_INVENTORY", "inventory", nil}, // paths: see cfgPaths
	{"defaults", "remote_user", "ANSIBLE_REMOTE_USER", "user", nil},
	{"defaults", "private_key_file", "ANSIBLE_PRIVATE_KEY_FILE", "private-key", expandTilde},
	{"defaults", "forks", "ANSIBLE_FORKS", "forks", cfgInt},
	{"defaults", "host_key_checking", "ANSIBLE_HOST_KEY_CHECKING", "host-key-checking", cfgHostKeyChecking},
	{"defaults", "vault_password_file", "ANSIBLE_VAULT_PASSWORD_FILE", "vault-password-file", expandTilde},
	{"defaults", "timeout", "ANSIBLE_TIMEOUT", "timeout", cfgInt},
	{"privilege_escalation", "become", "ANSIBLE_BECOME", "become", cfgBool},
	{"privilege_escalation", "become_ask_pass", "ANSIBLE_BECOME_ASK_PASS", "ask-become-pass", cfgBool},
	{"privilege_escalation", "become_user", "ANSIBLE_BECOME_USER", "become-user", nil},
	{"privilege_escalation", "become_method", "ANSIBLE_BECOME_METHOD", "become-method", nil},
	{"ssh_connection", "ssh_args", "ANSIBLE_SSH_ARGS", "ssh-common-args", nil},
}

// cfgPaths are the settings holding paths, which Ansible resolves
// relative to the directory of the ansible.cfg that sets them.
var cfgPaths = map[string]bool{"inventory": true, "private_key_file": true, "vault_password_file": true}

// relativeTo resolves the relative paths of a comma-separated list
// against dir (~ paths stay as they are).
func relativeTo(dir, list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" && !filepath.IsAbs(p) && !strings.HasPrefix(p, "~") {
			p = filepath.Join(dir, p)
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// ansibleCfg is the ansible.cfg in effect: its path ("" if none) and values.
type ansibleCfg struct {
	path   string
	values map[string]string // "section.key" -> value
}

// findAnsibleCfg picks the file as Ansible does: $ANSIBLE_CONFIG, then
// ./ansible.cfg (not in a world-writable directory: anyone could plant
// one there), then ~/.ansible.cfg.
func findAnsibleCfg() (*ansibleCfg, error) {
	var candidates []string
	if p := os.Getenv("ANSIBLE_CONFIG"); p != "" {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			p = filepath.Join(p, "ansible.cfg")
		}
		candidates = append(candidates, p)
	}
	if wd, err := os.Getwd(); err == nil {
		if fi, err := os.Stat(wd); err == nil && fi.Mode().Perm()&0o002 == 0 {
			candidates = append(candidates, filepath.Join(wd, "ansible.cfg"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".ansible.cfg"))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return parseAnsibleCfg(p)
		}
	}
	return &ansibleCfg{values: map[string]string{}}, nil
}

// parseAnsibleCfg reads the INI dialect of Python's configparser: sections,
// "key = value" or "key: value", # and ; comments, indented continuation lines.
func parseAnsibleCfg(path string) (*ansibleCfg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ansible.cfg: %v", err)
	}
	defer f.Close()
	cfg := &ansibleCfg{path: path, values: map[string]string{}}
	section, last := "", ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case raw[0] == ' ' || raw[0] == '\t':
			if last != "" {
				cfg.values[last] += "\n" + line
			}
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			section, last = strings.TrimSpace(line[1:len(line)-1]), ""
		default:
			i := strings.IndexAny(line, "=:")
			if i < 0 || section == "" {
				return nil, fmt.Errorf("%s:%d: expected key = value in a [section]", path, n)
			}
			last = section + "." + strings.ToLower(strings.TrimSpace(line[:i]))
			cfg.values[last] = strings.TrimSpace(line[i+1:])
		}
	}
	return cfg, sc.Err()
}

// effective is one setting's value and where it came from.
type effective struct {
	setting      cfgSetting
	value, from  string
	fromCfgOrEnv bool
}

// resolve computes every setting's effective value for command c.
func (cfg *ansibleCfg) resolve(c *cli.Context) ([]effective, error) {
	var out []effective
	for _, s := range cfgSettings {
		e := effective{setting: s}
		raw, from := "", ""
		if v, ok := os.LookupEnv(s.env); ok {
			raw, from = v, "$"+s.env
		} else if v, ok := cfg.values[s.section+"."+s.key]; ok {
			raw, from = v, fmt.Sprintf("%s [%s]", cfg.path, s.section)
			if cfgPaths[s.key] {
				raw = relativeTo(filepath.Dir(cfg.path), v)
			}
		}
		switch {
		case flagGiven(c, s.flag):
			e.value, e.from = fmt.Sprint(c.Value(s.flag)), "--"+s.flag
		case from != "":
			v := raw
			if s.convert != nil {
				var err error
				if v, err = s.convert(raw); err != nil {
					return nil, fmt.Errorf("%s (%s): %v", s.key, from, err)
				}
			}
			e.value, e.from, e.fromCfgOrEnv = v, from, true
		default:
			e.value, e.from = fmt.Sprint(c.Value(s.flag)), "default"
		}
		if strings.HasPrefix(e.value, "[") { // slices print as [a b]
			e.value = strings.Trim(e.value, "[]")
		}
		out = append(out, e)
	}
	return out, nil
}

// flagGiven reports whether the flag was given (SWARMRUN_* variables
// bound to flags count as given: they are swarmrun's own settings).
func flagGiven(c *cli.Context, name string) bool { return hasFlag(c, name) && c.IsSet(name) }

// applyAnsibleCfg sets the flags the user did not give from the
// environment and ansible.cfg.
func applyAnsibleCfg(c *cli.Context) error {
	cfg, err := findAnsibleCfg()
	if err != nil {
		return err
	}
	eff, err := cfg.resolve(c)
	if err != nil {
		return err
	}
	for _, e := range eff {
		if !e.fromCfgOrEnv || !hasFlag(c, e.setting.flag) {
			continue
		}
		values := []string{e.value}
		if e.setting.key == "inventory" { // a list of paths in Ansible
			values = strings.Split(e.value, ",")
		}
		for _, v := range values {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if err := c.Set(e.setting.flag, v); err != nil {
				return fmt.Errorf("%s (%s): %v", e.setting.key, e.from, err)
			}
		}
	}
	return nil
}

func hasFlag(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "print the effective settings (flags, ANSIBLE_* variables, ansible.cfg) and where each came from",
		Flags: playFlags(),
		Action: func(c *cli.Context) error {
			cfg, err := findAnsibleCfg()
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			eff, err := cfg.resolve(c)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			path := cfg.path
			if path == "" {
				path = "(none found: $ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg)"
			}
			fmt.Printf("config file: %s\n\n", path)
			for _, e := range eff {
				fmt.Printf("%-20s %-30s %s\n", e.setting.key, e.value, e.from)
			}
			return nil
		},
	}
}

func expandTilde(s string) (string, error) {
	if strings.HasPrefix(s, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, s[2:]), nil
		}
	}
	return s, nil
}

func cfgInt(s string) (string, error) {
	if _, err := strconv.Atoi(s); err != nil {
		return "", fmt.Errorf("%q is not an integer", s)
	}
	return s, nil
}

// cfgBool reads Ansible's booleans (yes/no, true/false, on/off, 1/0).
func cfgBool(s string) (string, error) {
	switch strings.ToLower(s) {
	case "yes", "y", "true", "t", "on", "1":
		return "true", nil
	case "no", "n", "false", "f", "off", "0", "":
		return "false", nil
	}
	return "", fmt.Errorf("%q is not a boolean", s)
}

func cfgHostKeyChecking(s string) (string, error) {
	b, err := cfgBool(s)
	if err != nil {
		return "", err
	}
	if b == "true" {
		return "strict", nil
	}
	return "off", nil
}
