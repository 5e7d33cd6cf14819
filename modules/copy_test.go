package modules

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/runtime/connection"
	"github.com/swarmrun/swarmrun/runtime/testutil"
)

// The tests below run modules against the machine through the real local
// connection, inside a temporary directory.

func genTarget(t *testing.T) *Target {
	t.Helper()
	ctx := context.Background()
	c, err := connection.Dial(ctx, connection.Config{Name: "local", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Target{Name: "local", Address: "127.0.0.1", Conn: c, Dir: t.TempDir(), Diff: true}
}

// genParams applies the schema's defaults to given, as the runtime does.
func genParams(t *testing.T, module string, given map[string]any) Params {
	t.Helper()
	m, ok := Get(module)
	if !ok {
		t.Fatalf("no module %s", module)
	}
	p, err := m.WithDefaults(given)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func genRun(t *testing.T, tg *Target, check bool, module string, given map[string]any) (*Result, error) {
	t.Helper()
	m, _ := Get(module)
	c := *tg
	c.Check = check
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.Run(ctx, &c, genParams(t, module, given))
}

// genSnapshot and genRead are the shared test helpers, as the module tests
// call them.
var (
	genSnapshot = testutil.Tree
	genRead     = testutil.ReadFile
)

// genConverge runs a step four times: check mode (must predict a change and
// touch nothing), for real (a change), again (no change) and check mode
// again (no change predicted). It returns the real run's result.
func genConverge(t *testing.T, tg *Target, dir, module string, given map[string]any) *Result {
	t.Helper()
	before := genSnapshot(t, dir)
	r, err := genRun(t, tg, true, module, given)
	if err != nil {
		t.Fatalf("%s check: %v", module, err)
	}
	if !r.Changed {
		t.Fatalf("%s check: predicted no change: %+v", module, r)
	}
	if after := genSnapshot(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("%s check mode changed files:\nbefore %v\nafter  %v", module, before, after)
	}
	predicted := r
	r, err = genRun(t, tg, false, module, given)
	if err != nil {
		t.Fatalf("%s: %v", module, err)
	}
	if !r.Changed {
		t.Fatalf("%s: no change on first run: %+v", module, r)
	}
	if predicted.Diff != r.Diff {
		t.Errorf("%s: check diff %q != real diff %q", module, predicted.Diff, r.Diff)
	}
	first := r
	for _, check := range []bool{false, true} {
		r, err = genRun(t, tg, check, module, given)
		if err != nil {
			t.Fatalf("%s again (check=%v): %v", module, check, err)
		}
		if r.Changed {
			t.Fatalf("%s again (check=%v): changed: %+v", module, check, r)
		}
	}
	return first
}

func genMode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestCopyLocal(t *testing.T) {
	tg := genTarget(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "motd")

	r := genConverge(t, tg, dir, "copy", map[string]any{"dest": dest, "content": "hi\n", "mode": "0600"})
	if got := genRead(t, dest); got != "hi\n" || genMode(t, dest).Perm() != 0o600 {
		t.Fatalf("content %q mode %v", got, genMode(t, dest))
	}
	if !strings.Contains(r.Diff, "+hi") || !strings.Contains(r.Diff, "mode 0600") {
		t.Errorf("diff: %q", r.Diff)
	}
	// Content change: a diff of the lines.
	r = genConverge(t, tg, dir, "copy", map[string]any{"dest": dest, "content": "hello\n", "mode": "0600"})
	if !strings.Contains(r.Diff, "-hi") || !strings.Contains(r.Diff, "+hello") || genRead(t, dest) != "hello\n" {
		t.Errorf("diff %q", r.Diff)
	}
	// Attributes only.
	r = genConverge(t, tg, dir, "copy", map[string]any{"dest": dest, "content": "hello\n", "mode": int64(0o640)})
	if r.Diff != "mode 0600 -> 0640\n" || genMode(t, dest).Perm() != 0o640 {
		t.Errorf("diff %q mode %v", r.Diff, genMode(t, dest))
	}
	// No mode given: an existing file keeps its mode.
	genConverge(t, tg, dir, "copy", map[string]any{"dest": dest, "content": "x\n"})
	if genMode(t, dest).Perm() != 0o640 {
		t.Errorf("mode not kept: %v", genMode(t, dest))
	}
	// Sensitive: the diff says nothing of the content.
	r = genConverge(t, tg, dir, "copy", map[string]any{"dest": dest, "content": "s3cret\n", "sensitive": true})
	if strings.Contains(r.Diff, "s3cret") || !strings.Contains(r.Diff, "sensitive") {
		t.Errorf("sensitive diff %q", r.Diff)
	}
	// src beside the playbook, into an existing directory.
	if err := os.WriteFile(filepath.Join(tg.Dir, "limits.conf"), []byte("* soft nofile 1024\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = genConverge(t, tg, dir, "copy", map[string]any{"dest": dir + "/", "src": "limits.conf"})
	if genRead(t, filepath.Join(dir, "limits.conf")) != "* soft nofile 1024\n" || r.Outputs["dest"] != filepath.Join(dir, "limits.conf") {
		t.Errorf("src copy: %+v", r.Outputs)
	}
	if os.Geteuid() == 0 {
		genConverge(t, tg, dir, "copy", map[string]any{"dest": dest, "content": "s3cret\n", "owner": "nobody", "group": "65534"})
		fi, _ := os.Stat(dest)
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("owner %d:%d", st.Uid, st.Gid)
		}
		// The same owner given by id and group by name is no change.
		r, err := genRun(t, tg, false, "copy", map[string]any{"dest": dest, "content": "s3cret\n", "owner": "65534", "group": "nogroup"})
		if err != nil || r.Changed {
			t.Errorf("numeric owner: %+v %v", r, err)
		}
	}

	// A missing parent: an error for real, a predicted change in check mode.
	missing := map[string]any{"dest": filepath.Join(dir, "nope", "f"), "content": "x"}
	if _, err := genRun(t, tg, false, "copy", missing); err == nil || !strings.Contains(err.Error(), "parent directory") {
		t.Errorf("missing parent: %v", err)
	}
	if r, err := genRun(t, tg, true, "copy", missing); err != nil || !r.Changed {
		t.Errorf("missing parent in check mode: %+v, %v", r, err)
	}
	if _, err := genRun(t, tg, false, "copy", map[string]any{"dest": dest}); err == nil {
		t.Error("neither content nor src: want an error")
	}
}
