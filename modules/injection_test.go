package modules

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

// Values that reach remote shell text are allow-listed or quoted. These
// slipped past the old blacklists (| & < > ( ) * ? were all let through).
var hostile = []string{"1|touch /tmp/pwn", "1&id", "1>x", "1<x", "x(y)", "a*", "a?b", "a{b,c}", "a\nb", "a\rb", "$(id)", "`id`", "a;b"}

func TestAptVersionsAllowListed(t *testing.T) {
	for _, v := range hostile {
		if _, err := aptParsePackages([]string{"docker.io=" + v}); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	for _, v := range []string{"5:28.5.2-1~debian.12~bookworm", "0.36.2-1+deb12u1", "1.0"} {
		if _, err := aptParsePackages([]string{"docker-ce=" + v}); err != nil {
			t.Errorf("version %q refused: %v", v, err)
		}
	}
}

func TestModprobeNamesAllowListed(t *testing.T) {
	for _, v := range hostile {
		if _, err := modprobeMods([]any{"br" + v}); err == nil {
			t.Errorf("module name %q accepted", v)
		}
		if modprobeFileRe.MatchString("swarm" + v) {
			t.Errorf("file name %q accepted", v)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b"} {
		if modprobeFileRe.MatchString(bad) {
			t.Errorf("file name %q accepted", bad)
		}
	}
}

func TestWaitForHostNeverScriptText(t *testing.T) {
	for _, v := range hostile {
		if _, err := waitProbe(Params{"port": int64(22), "host": "h" + v}); err == nil {
			t.Errorf("host %q accepted", v)
		}
	}
	// The accepted form runs in a real shell: a closed local port is down.
	probe, err := waitProbe(Params{"port": int64(1), "host": "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("sh", "-c", "if "+probe+"; then echo up; else echo down; fi").Output()
	if strings.TrimSpace(string(out)) != "down" {
		t.Fatalf("probe of a closed port: %q", out)
	}
}

type endpointConn struct{ connection.Conn }

func (endpointConn) SSHEndpoint() (int, string) { return 2222, "198.18.0.1" }

// ufw's lock-out guard protects the port the controller really uses: the
// connection's (ansible_port, ssh_config Port, -p in
// ansible_ssh_common_args resolved), not $SSH_CONNECTION, which sudo
// removes; without SSH, ansible_port or ansible_ssh_port.
func TestUfwGuardUsesControllersPort(t *testing.T) {
	tg := &Target{Conn: endpointConn{}, Vars: map[string]any{"ansible_port": 22}}
	if port, client := ufwSSHEndpoint(tg); port != 2222 || client != "198.18.0.1" {
		t.Errorf("over SSH: %d %q", port, client)
	}
	tg = &Target{Vars: map[string]any{"ansible_ssh_port": "2200"}}
	if port, _ := ufwSSHEndpoint(tg); port != 2200 {
		t.Errorf("ansible_ssh_port: %d", port)
	}
	if port, _ := ufwSSHEndpoint(&Target{}); port != 22 {
		t.Errorf("default: %d", port)
	}
}
