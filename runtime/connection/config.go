package connection

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kevinburke/ssh_config"
	"github.com/swarmrun/swarmrun/runtime/shellwords"
)

// Config says how to reach one host. The zero value of a field means "not
// set": FromVars and Dial fill in the rest.
type Config struct {
	Name            string        // inventory name, used in messages
	Host            string        // address or DNS name
	Port            int           // default 22
	User            string        // default $USER
	KeyFiles        []string      // private keys; ssh-agent (SSH_AUTH_SOCK) is always tried too
	Password        string        // login password (sensitive)
	KnownHostsFile  string        // default ~/.ssh/known_hosts
	HostKeyChecking string        // "strict" (default) | "accept-new" | "off"
	ProxyJump       string        // [user@]host[:port][,more]
	BecomePassword  string        // sudo password (sensitive, never logged or echoed)
	BecomeUser      string        // the user become runs as when a command names none; default root
	BecomeMethod    string        // "sudo" (default) or "su" (from a root login only)
	Local           bool          // ansible_connection=local
	ConnectTimeout  time.Duration // default 10s
	KeepAlive       time.Duration // default 15s; negative disables
}

// Host key checking policies.
const (
	Strict    = "strict"
	AcceptNew = "accept-new"
	Off       = "off"
)

// String describes c for messages; it never shows secrets.
func (c Config) String() string {
	if c.Local {
		return c.Name + " (local)"
	}
	addr := fmt.Sprintf("%s@%s:%d", c.User, c.Host, c.Port)
	if c.Name != "" && c.Name != c.Host {
		return fmt.Sprintf("%s (%s)", c.Name, addr)
	}
	return addr
}

// FromVars returns the configuration of host name: Ansible connection
// variables from the inventory override base (the command-line settings),
// ~/.ssh/config fills in what is still unset, then defaults apply.
func FromVars(name string, vars map[string]any, base Config) Config {
	v := ReadVars(vars)
	c := base
	c.Name = name
	c.KeyFiles = append([]string(nil), base.KeyFiles...)
	setString(&c.Host, v.Host)
	if v.Port > 0 {
		c.Port = v.Port
	}
	setString(&c.User, v.User)
	if v.KeyFile != "" {
		c.KeyFiles = []string{v.KeyFile}
	}
	setString(&c.Password, v.Password)
	setString(&c.BecomePassword, v.BecomePassword)
	switch v.Connection {
	case "local":
		c.Local = true
	case "ssh", "smart", "paramiko":
		c.Local = false
	}
	if v.NoHostKeyCheck {
		c.HostKeyChecking = Off
	}
	if v.Timeout > 0 {
		c.ConnectTimeout = v.Timeout
	}
	applySSHArgs(&c, v.SSHArgs)
	setString(&c.BecomeUser, v.BecomeUser)
	setString(&c.BecomeMethod, v.BecomeMethod)
	setString(&c.KnownHostsFile, v.KnownHostsFile)
	applySSHConfig(&c)
	applyDefaults(&c)
	return c
}

// setString sets *dst to s unless s is empty (not set).
func setString(dst *string, s string) {
	if s != "" {
		*dst = s
	}
}

// ApplySSHArgs applies OpenSSH "-o Key=Value" options (ansible.cfg's
// ssh_args, --ssh-common-args) the way ansible_ssh_common_args is applied.
func (c *Config) ApplySSHArgs(s string) {
	if s != "" {
		applySSHArgs(c, shellwords.Fields(s))
	}
}

// varString reads an inventory variable of any scalar type as a string.
func varString(vars map[string]any, key string) string {
	v, ok := vars[key]
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case fmt.Stringer:
		return strings.Trim(v.String(), `"`) // e.g. starlark.String
	default:
		return fmt.Sprint(v)
	}
}

// applySSHArgs honours the OpenSSH options people put in
// ansible_ssh_common_args: -o Key=Value, -J, -i, -p, -l.
func applySSHArgs(c *Config, args []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if len(a) > 2 {
				return a[2:]
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case strings.HasPrefix(a, "-o"):
			k, v := splitOption(next())
			applySSHOption(c, k, v)
		case strings.HasPrefix(a, "-J"):
			c.ProxyJump = next()
		case strings.HasPrefix(a, "-i"):
			c.KeyFiles = append(c.KeyFiles, expandHome(next()))
		case strings.HasPrefix(a, "-p"):
			if p, err := strconv.Atoi(next()); err == nil {
				c.Port = p
			}
		case strings.HasPrefix(a, "-l"):
			c.User = next()
		}
	}
}

// splitOption splits "Key=Value" or "Key Value".
func splitOption(s string) (key, value string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "= \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], "= \t")
}

func applySSHOption(c *Config, key, value string) {
	switch strings.ToLower(key) {
	case "userknownhostsfile":
		if f := strings.Fields(value); len(f) > 0 {
			c.KnownHostsFile = expandHome(f[0])
		}
	case "stricthostkeychecking":
		switch strings.ToLower(value) {
		case "no", "off", "false":
			c.HostKeyChecking = Off
		case "accept-new":
			c.HostKeyChecking = AcceptNew
		case "yes", "ask", "true":
			c.HostKeyChecking = Strict
		}
	case "proxyjump":
		if !strings.EqualFold(value, "none") {
			c.ProxyJump = value
		}
	case "proxycommand":
		// The usual bastion recipe, ssh -W %h:%p [-p port] [user@]jump, is a ProxyJump.
		if j := proxyCommandJump(value); j != "" {
			c.ProxyJump = j
		}
	case "identityfile":
		c.KeyFiles = append(c.KeyFiles, expandHome(value))
	case "port":
		if p, err := strconv.Atoi(value); err == nil {
			c.Port = p
		}
	case "user":
		c.User = value
	case "connecttimeout":
		if n, err := strconv.Atoi(value); err == nil && n > 0 {
			c.ConnectTimeout = time.Duration(n) * time.Second
		}
	case "serveraliveinterval":
		if n, err := strconv.Atoi(value); err == nil {
			c.KeepAlive = time.Duration(n) * time.Second
			if n == 0 {
				c.KeepAlive = -1
			}
		}
	}
}

// proxyCommandJump turns "ssh -W %h:%p [-p N] [-q] [user@]host" into a
// ProxyJump value, or returns "" for any other command.
func proxyCommandJump(cmd string) string {
	args := shellwords.Fields(cmd)
	if len(args) == 0 || filepath.Base(args[0]) != "ssh" {
		return ""
	}
	var dest, port string
	w := false
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-W" && i+1 < len(args):
			i++
			w = args[i] == "%h:%p"
		case a == "-p" && i+1 < len(args):
			i++
			port = args[i]
		case a == "-l" && i+1 < len(args), a == "-o" && i+1 < len(args), a == "-i" && i+1 < len(args):
			i++ // options we cannot carry over
		case strings.HasPrefix(a, "-"):
		default:
			dest = a
		}
	}
	if !w || dest == "" {
		return ""
	}
	if port != "" {
		dest += ":" + port
	}
	return dest
}

// sshConfigFiles are read in order, first value wins, as OpenSSH does.
// Tests replace it.
var sshConfigFiles = func() []string {
	return []string{filepath.Join(homeDir(), ".ssh", "config"), "/etc/ssh/ssh_config"}
}

var sshConfigCache struct {
	sync.Mutex
	m map[string]*ssh_config.Config
}

// sshConfigs returns the parsed ssh_config files; unreadable or unparsable
// ones are skipped, as a broken ~/.ssh/config must not stop a run that sets
// everything in its inventory.
func sshConfigs() []*ssh_config.Config {
	sshConfigCache.Lock()
	defer sshConfigCache.Unlock()
	if sshConfigCache.m == nil {
		sshConfigCache.m = map[string]*ssh_config.Config{}
	}
	var out []*ssh_config.Config
	for _, name := range sshConfigFiles() {
		cfg, ok := sshConfigCache.m[name]
		if !ok {
			if f, err := os.Open(name); err == nil {
				cfg, _ = ssh_config.Decode(f)
				f.Close()
			}
			sshConfigCache.m[name] = cfg
		}
		if cfg != nil {
			out = append(out, cfg)
		}
	}
	return out
}

// sshConfigGet returns the first value of key for alias, or "".
func sshConfigGet(alias, key string) string {
	for _, cfg := range sshConfigs() {
		if v, err := cfg.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

func sshConfigGetAll(alias, key string) []string {
	for _, cfg := range sshConfigs() {
		if v, err := cfg.GetAll(alias, key); err == nil && len(v) > 0 {
			return v
		}
	}
	return nil
}

// applySSHConfig fills unset fields from ~/.ssh/config. OpenSSH matches Host
// patterns against the name it is given: like Ansible, that is ansible_host
// when set, else the inventory name (which may be an ssh_config alias).
func applySSHConfig(c *Config) {
	if c.Local {
		return
	}
	alias := c.Host
	if alias == "" {
		alias = c.Name
	}
	if c.Host == "" {
		if h := sshConfigGet(alias, "HostName"); h != "" {
			c.Host = strings.ReplaceAll(h, "%h", alias)
		}
	}
	if c.User == "" {
		c.User = sshConfigGet(alias, "User")
	}
	if c.Port == 0 {
		c.Port, _ = strconv.Atoi(sshConfigGet(alias, "Port"))
	}
	if len(c.KeyFiles) == 0 {
		for _, f := range sshConfigGetAll(alias, "IdentityFile") {
			c.KeyFiles = append(c.KeyFiles, expandTokens(f, alias, c.User))
		}
	}
	if c.ProxyJump == "" {
		if j := sshConfigGet(alias, "ProxyJump"); !strings.EqualFold(j, "none") {
			c.ProxyJump = j
		}
	}
	if c.KnownHostsFile == "" {
		if f := strings.Fields(sshConfigGet(alias, "UserKnownHostsFile")); len(f) > 0 {
			c.KnownHostsFile = expandTokens(f[0], alias, c.User)
		}
	}
	if c.HostKeyChecking == "" {
		applySSHOption(c, "StrictHostKeyChecking", sshConfigGet(alias, "StrictHostKeyChecking"))
	}
}

func applyDefaults(c *Config) {
	if c.Host == "" {
		c.Host = c.Name
	}
	if c.Port == 0 {
		c.Port = 22
	}
	if c.User == "" {
		c.User = localUser()
	}
	if c.KnownHostsFile == "" {
		c.KnownHostsFile = filepath.Join(homeDir(), ".ssh", "known_hosts")
	}
	if c.HostKeyChecking == "" {
		c.HostKeyChecking = Strict
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 15 * time.Second
	}
}

func localUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/"
}

func expandHome(p string) string {
	if p == "~" {
		return homeDir()
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(), p[2:])
	}
	return p
}

// expandTokens expands ~ and the ssh_config tokens that make sense for
// file names: %d home, %u local user, %h host, %r remote user, %%.
func expandTokens(p, host, remoteUser string) string {
	p = expandHome(p)
	if !strings.Contains(p, "%") {
		return p
	}
	r := strings.NewReplacer("%%", "%", "%d", homeDir(), "%u", localUser(), "%h", host, "%r", remoteUser)
	return r.Replace(p)
}
