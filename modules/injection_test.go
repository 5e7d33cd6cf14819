package modules

import (
	"os/exec"
	"strings"
	"testing"
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
