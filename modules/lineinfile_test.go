package modules

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The cases follow Ansible's lineinfile documentation and integration tests.
func TestLineinfileEdit(t *testing.T) {
	re := regexp.MustCompile
	cases := []struct {
		name    string
		in      string
		e       lineEdit
		want    string
		changed bool
		msg     string
	}{
		{"append at EOF", "a\nb\n", lineEdit{line: "c"}, "a\nb\nc\n", true, "line added"},
		{"append adds missing final newline", "a\nb", lineEdit{line: "c"}, "a\nb\nc\n", true, "line added"},
		{"empty file", "", lineEdit{line: "c"}, "c\n", true, "line added"},
		{"exact line present", "a\nc\nb\n", lineEdit{line: "c"}, "a\nc\nb\n", false, ""},
		{"exact line without final newline gets one", "a\nc", lineEdit{line: "c"}, "a\nc\n", true, "line replaced"},
		{"regexp replaces the last match", "x=1\nx=2\ny\n", lineEdit{line: "x=3", regexp: re(`^x=`)}, "x=1\nx=3\ny\n", true, "line replaced"},
		{"firstmatch replaces the first", "x=1\nx=2\ny\n", lineEdit{line: "x=3", regexp: re(`^x=`), firstMatch: true}, "x=3\nx=2\ny\n", true, "line replaced"},
		{"regexp matches the wanted line already", "x=3\n", lineEdit{line: "x=3", regexp: re(`^x=`)}, "x=3\n", false, ""},
		{"$ anchors before the newline as in Python", "port=22\n", lineEdit{line: "port=2222", regexp: re(`^port=\d+$`)}, "port=2222\n", true, "line replaced"},
		{"no regexp match but exact line present", "a\nfoo\n", lineEdit{line: "foo", regexp: re(`^bar`)}, "a\nfoo\n", false, ""},
		{"regexp no match appends", "a\n", lineEdit{line: "foo", regexp: re(`^bar`)}, "a\nfoo\n", true, "line added"},
		{"insertafter last match", "[a]\nk=1\n[a]\nk=2\n", lineEdit{line: "new", insertAfter: `^\[a\]`}, "[a]\nk=1\n[a]\nnew\nk=2\n", true, "line added"},
		{"insertafter firstmatch", "[a]\nk=1\n[a]\nk=2\n", lineEdit{line: "new", insertAfter: `^\[a\]`, firstMatch: true}, "[a]\nnew\nk=1\n[a]\nk=2\n", true, "line added"},
		{"insertafter anchor at end", "a\n[s]\n", lineEdit{line: "new", insertAfter: `^\[s\]`}, "a\n[s]\nnew\n", true, "line added"},
		{"insertafter without anchor match appends", "a\n", lineEdit{line: "new", insertAfter: `^zzz`}, "a\nnew\n", true, "line added"},
		{"insertafter ignored when regexp matches", "k=1\n[s]\n", lineEdit{line: "k=2", regexp: re(`^k=`), insertAfter: `^\[s\]`}, "k=2\n[s]\n", true, "line replaced"},
		{"insertbefore last match", "a\nc\nb\nc\n", lineEdit{line: "x", insertBefore: `^c`}, "a\nc\nb\nx\nc\n", true, "line added"},
		{"insertbefore BOF", "a\n", lineEdit{line: "x", insertBefore: "BOF"}, "x\na\n", true, "line added"},
		{"insertafter BOF", "a\n", lineEdit{line: "x", insertAfter: "BOF"}, "x\na\n", true, "line added"},
		{"insertafter EOF", "a\n", lineEdit{line: "x", insertAfter: "EOF"}, "a\nx\n", true, "line added"},
		{"backrefs", "name=foo\n", lineEdit{line: `name=\1bar`, regexp: re(`^name=(\w+?)(bar)?$`), backrefs: true}, "name=foobar\n", true, "line replaced"},
		{"backrefs named group and literal $", "v=1\n", lineEdit{line: `v=\g<n>$`, regexp: re(`^v=(?P<n>\d)`), backrefs: true}, "v=1$\n", true, "line replaced"},
		{"backrefs without match leaves file alone", "a\n", lineEdit{line: `x=\1`, regexp: re(`^x=(.*)`), backrefs: true}, "a\n", false, ""},
		{"absent by regexp removes all matches", "x=1\ny\nx=2\n", lineEdit{regexp: re(`^x=`), absent: true}, "y\n", true, "2 line(s) removed"},
		{"absent by line", "a\nb\na\n", lineEdit{line: "a", absent: true}, "b\n", true, "2 line(s) removed"},
		{"absent nothing to remove", "a\n", lineEdit{line: "b", absent: true}, "a\n", false, ""},
		{"CRLF line counts as present", "a\r\nb\r\n", lineEdit{line: "b", absent: true}, "a\r\n", true, "1 line(s) removed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, changed, msg, err := c.e.apply(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || changed != c.changed || msg != c.msg {
				t.Fatalf("apply(%q) = %q, %v, %q; want %q, %v, %q", c.in, got, changed, msg, c.want, c.changed, c.msg)
			}
			// Idempotence: a second application changes nothing.
			again, changed2, _, _ := c.e.apply(got)
			if changed2 || again != got {
				t.Fatalf("second apply changed %q to %q", got, again)
			}
		})
	}
}

func TestPyToGoTemplate(t *testing.T) {
	for in, want := range map[string]string{`\1`: "${1}", `a\g<x>b`: "a${x}b", `$HOME \12`: "$$HOME ${12}"} {
		if got := pyToGoTemplate(in); got != want {
			t.Errorf("pyToGoTemplate(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLineinfileLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "sshd_config")

	if _, err := genRun(t, tg, false, "lineinfile", map[string]any{"path": p, "line": "x"}); err == nil {
		t.Error("missing file without create: want an error")
	}
	genConverge(t, tg, dir, "lineinfile", map[string]any{"path": p, "line": "Port 22", "create": true, "mode": "0600"})
	if genRead(t, p) != "Port 22\n" || genMode(t, p).Perm() != 0o600 {
		t.Fatalf("%q %v", genRead(t, p), genMode(t, p))
	}
	if err := os.WriteFile(p, []byte("#PermitRootLogin yes\nPort 22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := genConverge(t, tg, dir, "lineinfile", map[string]any{"path": p, "regexp": "^#?PermitRootLogin ", "line": "PermitRootLogin no"})
	if genRead(t, p) != "PermitRootLogin no\nPort 22\n" || !strings.Contains(r.Diff, "+PermitRootLogin no") {
		t.Fatalf("%q diff %q", genRead(t, p), r.Diff)
	}
	if genMode(t, p).Perm() != 0o600 {
		t.Errorf("mode not kept: %v", genMode(t, p))
	}
	genConverge(t, tg, dir, "lineinfile", map[string]any{"path": p, "line": "UseDNS no", "insertbefore": "^Port"})
	genConverge(t, tg, dir, "lineinfile", map[string]any{"path": p, "regexp": "^Port", "state": "absent"})
	if genRead(t, p) != "PermitRootLogin no\nUseDNS no\n" {
		t.Fatalf("%q", genRead(t, p))
	}
	genConverge(t, tg, dir, "lineinfile", map[string]any{"path": p, "line": "UseDNS no", "mode": "0640"})
	if r, err := genRun(t, tg, false, "lineinfile", map[string]any{"path": filepath.Join(dir, "none"), "line": "x", "state": "absent"}); err != nil || r.Changed {
		t.Errorf("absent on a missing file: %+v %v", r, err)
	}
}

func TestLineinfileCheckMissingFile(t *testing.T) {
	tg := genTarget(t)
	p := filepath.Join(t.TempDir(), "later")
	r, err := genRun(t, tg, true, "lineinfile", map[string]any{"path": p, "line": "x"})
	if err != nil || !r.Changed || !strings.Contains(r.Msg, "earlier step") {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("check mode created the file")
	}
}
