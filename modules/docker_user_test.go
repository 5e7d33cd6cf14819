package modules

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerUserRules(t *testing.T) {
	lines, comments, err := dockerUserRules([]any{
		map[string]any{"port": "8080", "from": "any", "comment": "web"},
		map[string]any{"port": int64(8081), "from": []any{"192.0.2.0/28", "198.51.100.7"}, "comment": "admin UI"},
		map[string]any{"port": "9000:9010", "proto": "udp", "from": "203.0.113.9/32"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-A DOCKER-USER -s 192.0.2.0/28 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8081 --ctdir ORIGINAL -j RETURN",
		"-A DOCKER-USER -s 198.51.100.7/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8081 --ctdir ORIGINAL -j RETURN",
		"-A DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8081 --ctdir ORIGINAL -j DROP",
		"-A DOCKER-USER -s 203.0.113.9/32 -p udp -m conntrack --ctstate DNAT --ctorigdstport 9000:9010 --ctdir ORIGINAL -j RETURN",
		"-A DOCKER-USER -p udp -m conntrack --ctstate DNAT --ctorigdstport 9000:9010 --ctdir ORIGINAL -j DROP",
		"-A DOCKER-USER -j RETURN",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s", strings.Join(lines, "\n"))
	}
	if comments[0] != "# 8080/tcp web: from any" || comments[1] != "# 8081/tcp admin UI: from 192.0.2.0/28, 198.51.100.7/32" {
		t.Errorf("comments %q", comments)
	}
	for _, bad := range []map[string]any{{"port": "8080"}, {"port": "80,443", "from": "any"}, {"port": "80", "from": "any", "proto": "esp"}, {"port": "80", "from": "2001:db8::1"}, {"port": "80", "from": "x"}, {"port": "80", "from": "any", "to": "y"}} {
		if _, _, err := dockerUserRules([]any{bad}); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	// The file block: appended once, replaced in place, other lines kept.
	block := dockerUserBlock(lines, comments)
	f1 := dockerUserEditFile("*filter\nCOMMIT", block)
	if f1 != "*filter\nCOMMIT\n"+block || dockerUserEditFile(f1, block) != f1 {
		t.Errorf("edit:\n%s", f1)
	}
	other := dockerUserBlock(lines[len(lines)-1:], nil)
	if f2 := dockerUserEditFile(f1+"# after\n", other); f2 != "*filter\nCOMMIT\n"+other+"# after\n" {
		t.Errorf("replace:\n%s", f2)
	}
}

// TestDockerUserLoadsLive loads the block with iptables-restore in a private
// network namespace: what the kernel prints back is exactly the lines the
// module compares with, so a second look finds nothing to change.
func TestDockerUserLoadsLive(t *testing.T) {
	ns := testNetns(t, "srdu-unit", "iptables-restore")
	file := filepath.Join(t.TempDir(), "after.rules")
	os.WriteFile(file, []byte("*filter\nCOMMIT\n"), 0o640)
	rules := []any{map[string]any{"port": "8081", "from": []any{"192.0.2.0/28"}}}
	tg := &Target{Name: "a", Conn: nsConn{shConn{t}, ns}, Check: true, Diff: true}
	m, _ := Get("docker_user")
	p := Params{"rules": rules, "persist": true, "file": file}
	r, err := m.Run(context.Background(), tg, p)
	if err != nil || !r.Changed || !strings.Contains(r.Diff, "+-A DOCKER-USER -p tcp -m conntrack --ctstate DNAT --ctorigdstport 8081 --ctdir ORIGINAL -j DROP") {
		t.Fatalf("check: %+v %v", r, err)
	}
	lines, comments, _ := dockerUserRules(rules)
	block := dockerUserBlock(lines, comments)
	os.WriteFile(file, []byte(dockerUserEditFile("*filter\nCOMMIT\n", block)), 0o640)
	if out, err := exec.Command("nsenter", "--net=/run/netns/"+ns, "sh", "-c", "printf '%s' "+Quote(block)+" | iptables-restore -w 10 --noflush").CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore: %v %s", err, out)
	}
	if r, err = m.Run(context.Background(), tg, p); err != nil || r.Changed {
		t.Fatalf("after loading: %+v %v", r, err)
	}
}
