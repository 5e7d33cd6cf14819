package modules

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

func TestAptParse(t *testing.T) {
	pk, err := aptParsePackages([]string{"docker.io", "ufw=0.36.2-1", "libc6:amd64", "g++"})
	if err != nil || len(pk) != 4 || pk[1].Version != "0.36.2-1" || pk[2].Name != "libc6:amd64" {
		t.Fatalf("%+v %v", pk, err)
	}
	for _, bad := range []string{"", "Docker", "a b", "x;rm", "x=1 2", "$(id)"} {
		if _, err := aptParsePackages([]string{bad}); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	// dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'
	out := "ufw\t0.36.2-1\tii \nnano\t7.2-1\trc \ncurl\t7.88.1-10\tiU \njq\t1.6-2.1\tiW \nsl\t\tun \n"
	inst := aptInstalled(out)
	if len(inst) != 2 || inst["ufw"] != "0.36.2-1" || inst["jq"] != "1.6-2.1" {
		t.Errorf("installed: %v", inst)
	}
	pkgs, _ := aptParsePackages([]string{"ufw", "nano", "curl", "jq=1.6-2.1", "tree=2.1.0-1", "sl"})
	inst["tree"] = "2.0.0-1"
	install, remove := aptPlan(pkgs, inst, "present")
	if got := strings.Join(aptNames(install), " "); got != "nano curl tree=2.1.0-1 sl" || len(remove) != 0 {
		t.Errorf("present: install %s remove %v", got, remove)
	}
	install, remove = aptPlan(pkgs, inst, "absent")
	if got := strings.Join(aptNames(remove), " "); got != "ufw jq=1.6-2.1" || len(install) != 0 {
		t.Errorf("absent: remove %s", got)
	}
}

func TestAptSimulated(t *testing.T) {
	out := `NOTE: This is only a simulation!
Reading package lists...
The following packages will be upgraded:
  ufw
Inst libjq1 (1.6-2.1 Debian:12.5/stable [amd64])
Inst ufw [0.36.2-1] (0.36.2-2 Debian:12.5/stable [all])
Remv oldpkg [1.0]
Conf libjq1 (1.6-2.1 Debian:12.5/stable [amd64])
`
	got := strings.Join(aptSimulated(out), "\n")
	want := "+ libjq1 1.6-2.1\n~ ufw 0.36.2-1 -> 0.36.2-2\n- oldpkg"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if len(aptSimulated("0 upgraded, 0 newly installed, 0 to remove and 3 not upgraded.\n")) != 0 {
		t.Error("nothing to do")
	}
	err := aptError("install", &ExitError{Code: 100, Stdout: "Reading package lists...\nE: Unable to locate package no-such-pkg"}, "")
	if !strings.Contains(err.Error(), "Unable to locate package no-such-pkg") {
		t.Errorf("error: %v", err)
	}
	err = aptError("install", errors.New("boom"), "")
	if !strings.Contains(err.Error(), "boom") {
		t.Errorf("error: %v", err)
	}
}

// TestAptQuery: the awk reading of the status file says what dpkg-query
// says, on this machine's own package database.
func TestAptQuery(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("no dpkg here")
	}
	names := []string{"bash", "coreutils", "dpkg", "libc6", "no-such-package-swarmrun", "openssh-server", "ufw", "docker.io", "vim-tiny", "rsync", "apt"}
	run := func(script string) string {
		out, _ := exec.Command("sh", "-c", script).Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	fast := aptQuery(names)
	if !strings.Contains(fast, "awk") {
		t.Fatal("no awk branch")
	}
	dq := "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' " + strings.Join(names, " ") + " 2>/dev/null"
	// Packages dpkg knows only from its available file (not installed) are
	// not in the status file; what counts is the installed set.
	got, want := run(fast), run(dq)
	if g, w := fmt.Sprint(aptInstalled(got)), fmt.Sprint(aptInstalled(want)); g != w {
		t.Errorf("awk says\n%s\ndpkg-query says\n%s", got, want)
	}
	for _, l := range strings.Split(got, "\n") {
		if !strings.Contains(want, l) {
			t.Errorf("awk line %q is not dpkg-query's", l)
		}
	}
	if !strings.Contains(want, "bash\t") {
		t.Errorf("dpkg-query found no bash: %q", want)
	}
	// Arch-qualified names go to dpkg-query.
	if q := aptQuery([]string{"libc6:amd64"}); strings.Contains(q, "awk") {
		t.Errorf("arch-qualified: %s", q)
	}
}
