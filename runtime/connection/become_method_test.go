package connection

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestBecomeMethodSu runs through su from a root login (the local
// connection as root) and refuses what it cannot do.
func TestBecomeMethodSu(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: su asks no password only from root")
	}
	ctx := context.Background()
	c, err := Dial(ctx, Config{Name: "local", Local: true, BecomeMethod: "su", BecomeUser: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, stdin := range []string{"", "x"} { // the persistent shell and a session of its own
		r, err := c.Run(ctx, "id -un; cat >/dev/null", RunOpts{Become: true, Stdin: []byte(stdin)})
		if err != nil || strings.TrimSpace(string(r.Stdout)) != "nobody" {
			t.Errorf("su (stdin %q): %v %+v", stdin, err, r)
		}
	}
	if got := newWrap(true, "app", "").line("x"); !strings.HasPrefix(got, "sudo ") {
		t.Errorf("default method: %s", got)
	}
	w := Config{BecomeMethod: "su"}.wrapFor(true, "app")
	if got := w.line("x"); !strings.HasPrefix(got, "exec su -s /bin/sh -c ") || !strings.HasSuffix(got, " app") {
		t.Errorf("su line: %s", got)
	}
	if err := (Config{Name: "h", BecomeMethod: "su"}).becomeError(false, true); !errors.Is(err, ErrSuNeedsRoot) {
		t.Errorf("su without root: %v", err)
	}
	if err := (Config{Name: "h", BecomeMethod: "doas"}).becomeError(true, true); err == nil || !strings.Contains(err.Error(), "doas") {
		t.Errorf("doas: %v", err)
	}
}
