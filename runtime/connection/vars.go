package connection

import (
	"strconv"
	"strings"
	"time"

	"github.com/swarmrun/swarmrun/runtime/shellwords"
)

// Vars are a host's Ansible connection variables. ReadVars is their one
// reader: the connection (FromVars), the runtime (a host's address, its
// become, the passwords it masks) and modules (the SSH port) all go
// through it, so the address dialled and the address a playbook sees
// (h.address, a swarm node's advertise address) cannot disagree.
type Vars struct {
	Host            string        // ansible_host, else ansible_ssh_host
	Port            int           // ansible_port, else ansible_ssh_port
	User            string        // ansible_user, else ansible_ssh_user
	KeyFile         string        // ansible_ssh_private_key_file, ~ expanded
	Password        string        // ansible_password, ansible_ssh_pass, ansible_ssh_password
	BecomePassword  string        // ansible_become_password, ansible_become_pass, ansible_sudo_pass
	Become          bool          // ansible_become
	BecomeUser      string        // ansible_become_user
	BecomeMethod    string        // ansible_become_method
	Connection      string        // ansible_connection
	NoHostKeyCheck  bool          // ansible_host_key_checking=false
	Timeout         time.Duration // ansible_timeout (seconds)
	SSHArgs         []string      // ansible_ssh_common_args, then ansible_ssh_extra_args
	KnownHostsFile  string        // swarmrun_known_hosts_file, ~ expanded
	passwordsByName []string      // every password variable set, for Secrets
}

// Variable names, first one set wins (the order FromVars always had).
var (
	hostVars           = []string{"ansible_host", "ansible_ssh_host"}
	portVars           = []string{"ansible_port", "ansible_ssh_port"}
	userVars           = []string{"ansible_user", "ansible_ssh_user"}
	passwordVars       = []string{"ansible_password", "ansible_ssh_pass", "ansible_ssh_password"}
	becomePasswordVars = []string{"ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"}
)

// ReadVars reads the connection variables out of a host's variables.
func ReadVars(vars map[string]any) Vars {
	v := Vars{
		Host:           firstVar(vars, hostVars),
		User:           firstVar(vars, userVars),
		Password:       firstVar(vars, passwordVars),
		BecomePassword: firstVar(vars, becomePasswordVars),
		BecomeUser:     varString(vars, "ansible_become_user"),
		BecomeMethod:   varString(vars, "ansible_become_method"),
		Connection:     varString(vars, "ansible_connection"),
	}
	for _, k := range portVars {
		if p, err := strconv.Atoi(varString(vars, k)); err == nil && p > 0 {
			v.Port = p
			break
		}
	}
	if s := varString(vars, "ansible_ssh_private_key_file"); s != "" {
		v.KeyFile = expandHome(s)
	}
	v.Become = varBool(vars, "ansible_become")
	if s := varString(vars, "ansible_host_key_checking"); s != "" {
		b, err := strconv.ParseBool(s)
		v.NoHostKeyCheck = err == nil && !b
	}
	if n, err := strconv.Atoi(varString(vars, "ansible_timeout")); err == nil && n > 0 {
		v.Timeout = time.Duration(n) * time.Second
	}
	for _, k := range []string{"ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		v.SSHArgs = append(v.SSHArgs, shellwords.Fields(varString(vars, k))...)
	}
	if s := varString(vars, "swarmrun_known_hosts_file"); s != "" {
		v.KnownHostsFile = expandHome(s)
	}
	for _, k := range append(append([]string(nil), passwordVars...), becomePasswordVars...) {
		if s := varString(vars, k); s != "" {
			v.passwordsByName = append(v.passwordsByName, s)
		}
	}
	return v
}

// Address is the address of host name: its ansible_host (or
// ansible_ssh_host), else the name itself.
func (v Vars) Address(name string) string {
	if v.Host != "" {
		return v.Host
	}
	return name
}

// Secrets are the values of every password variable that is set, the
// ones not chosen included: a playbook may print h.vars.
func (v Vars) Secrets() []string { return v.passwordsByName }

func firstVar(vars map[string]any, keys []string) string {
	for _, k := range keys {
		if s := varString(vars, k); s != "" {
			return s
		}
	}
	return ""
}

// varBool reads an Ansible boolean: true, or "true"/"yes"/"1" (any case
// for "true", as the runtime always accepted).
func varBool(vars map[string]any, key string) bool {
	switch b := vars[key].(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true") || b == "yes" || b == "1"
	}
	return false
}
