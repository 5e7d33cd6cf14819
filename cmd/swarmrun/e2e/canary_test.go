//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const canaryNet = 70

// Canary secrets: multi-line, quotes, <&>, backslashes, one short. The
// become password is also the inventory's.
var (
	canaryPEM    = "-----BEGIN KEY-----\nQ2FuYXJ5TGluZU9uZQ\nQ2FuYXJ5TGluZVR3bw\n-----END KEY-----"
	canaryPW     = `pa"ss'wo<&>rd\back`
	canaryShort  = "short1"
	canaryBecome = `Bec0me"Pa$<&>\x`
)

// canaryLeaks returns every 6-byte piece of a canary found in out (the
// armour lines of the PEM canary are not secret).
func canaryLeaks(out string) []string {
	var found []string
	armour := "-----BEGIN KEY----------END KEY-----"
	for _, s := range []string{canaryPEM, canaryPW + "1", canaryPW + "2", canaryShort, canaryBecome} {
		for i := 0; i+6 <= len(s); i++ {
			p := s[i : i+6]
			if strings.Contains(p, "\n") || strings.Contains(armour, p) {
				continue
			}
			if strings.Contains(out, p) {
				found = append(found, p)
			}
		}
	}
	return found
}

// TestSecretCanary uses canary secrets in every way a playbook can (env,
// file content, secret data, copy, lineinfile, stack env into command
// arguments, healthcheck and labels, a become password from the
// inventory), under --check --diff -v, real runs (the second with a new
// value, so diffs hold the previous one), JSON and human output, a failing
// step and an inventory error: no canary, nor any 6-byte piece of one, is
// printed, and no temporary file is left on the host.
func TestSecretCanary(t *testing.T) {
	l := startLab(t, canaryNet, 1, true)
	h := l.Hosts[0]
	t.Setenv("CANARY_PEM", canaryPEM)
	t.Setenv("CANARY_PW", canaryPW)
	t.Setenv("CANARY_SHORT", canaryShort)
	dir := e2eData(t, "canary")
	img := l.ImageVar()
	var all strings.Builder
	run := func(args ...string) (string, error) {
		out, err := l.Swarmrun(args...)
		all.WriteString(out)
		return out, err
	}
	pb := filepath.Join(dir, "canary.star")
	for _, c := range []struct {
		round string
		args  []string
	}{
		{"1", []string{"--check", "--diff", "-v", "--output", "json"}},
		{"1", []string{"--diff", "-v", "--output", "json"}},
		{"2", []string{"--check", "--diff", "-v"}},
		{"2", []string{"--diff", "-v"}},
	} {
		args := append([]string{"play", pb, "-i", l.Inventory, "-e", img, "-e", "round=" + c.round}, c.args...)
		out, err := run(args...)
		if err != nil {
			t.Fatalf("play %v: %v\n%s", c.args, err, out)
		}
		if c.round == "1" && c.args[0] == "--diff" {
			// The canary really went everywhere: each step changed, and
			// showed no content in its diff.
			changed := map[string]string{}
			for _, r := range parsePlay(out, err).Results {
				if r.Status == "changed" {
					changed[r.Module] = r.Diff
				}
			}
			for _, m := range []string{"copy", "lineinfile", "secret", "stack"} {
				if d, ok := changed[m]; !ok || (m != "secret" && !strings.HasPrefix(d, "(diff hidden")) {
					t.Errorf("%s: changed %v, diff %q", m, ok, d)
				}
			}
		}
	}
	label := trim(l.MustSSH(t, h.Name, "docker service inspect can_app --format '{{index .Spec.Labels \"canary\"}}|{{index .Spec.TaskTemplate.ContainerSpec.Labels \"canary\"}}|{{index .Spec.TaskTemplate.ContainerSpec.Args 2}}'"))
	if want := canaryPW + "2"; label != want+"|"+want+"|"+want {
		t.Errorf("the canary did not reach the service's labels and arguments: %q", label)
	}
	if got := trim(l.MustSSH(t, h.Name, "cat /etc/canary/pw; grep ^password= /etc/canary/app.conf")); got != canaryPW+"2\npassword="+canaryPW+"2" {
		t.Errorf("files on the host: %q", got)
	}

	// Become with the inventory's password (also a canary).
	l.MustSSH(t, h.Name, `set -e; id -u ops >/dev/null 2>&1 || useradd -m -s /bin/sh ops
install -d -m 0700 -o ops -g ops /home/ops/.ssh; cp /root/.ssh/authorized_keys /home/ops/.ssh/; chown ops:ops /home/ops/.ssh/authorized_keys
echo 'ops ALL=(ALL:ALL) ALL' > /etc/sudoers.d/canary-ops; chmod 0440 /etc/sudoers.d/canary-ops
printf 'ops:%s\n' `+shQuote(canaryBecome)+` | chpasswd`)
	inv, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	opsInv := filepath.Join(t.TempDir(), "ops.ini")
	text := strings.Replace(string(inv), "ansible_user=root", "ansible_user=ops ansible_become_password='"+canaryBecome+"'", 1)
	os.WriteFile(opsInv, []byte(text), 0o600)
	for _, args := range [][]string{{"--check", "--diff", "-v"}, {"--diff", "-v", "--output", "json"}} {
		if out, err := run(append([]string{"play", filepath.Join(dir, "become.star"), "-i", opsInv}, args...)...); err != nil {
			t.Fatalf("become play %v: %v\n%s", args, err, out)
		}
	}
	// A password the INI parser cannot read: the error names the line, not the value.
	badInv := filepath.Join(t.TempDir(), "bad.ini")
	os.WriteFile(badInv, []byte("[all]\n"+h.Name+" ansible_become_password="+canaryBecome+"\n"), 0o600)
	if out, err := run("play", filepath.Join(dir, "become.star"), "-i", badInv); err == nil {
		t.Errorf("a broken inventory was accepted:\n%s", out)
	}
	if _, err := run("play", filepath.Join(dir, "become.star"), "-i", opsInv, "-e", "x='"+canaryBecome); err == nil {
		t.Errorf("a broken -e was accepted")
	}

	if leaks := canaryLeaks(all.String()); len(leaks) > 0 {
		t.Errorf("canary pieces printed: %q\n%s", leaks, all.String())
	}
	if left := trim(l.MustSSH(t, h.Name, "find /etc /root /var/lib/docker/swarm -xdev -name '.*.swarmrun-*' 2>/dev/null; true")); left != "" {
		t.Errorf("temporary files left on the host:\n%s", left)
	}
	t.Logf("%d bytes of output checked, no canary piece", all.Len())
}
