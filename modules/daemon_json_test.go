package modules

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/runtime/connection"
)

func TestDaemonJSONCompare(t *testing.T) {
	file := `{
    "storage-driver":"overlay2", "log-opts": {"max-file": "3", "max-size": "10m"},
  "log-driver": "json-file", "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000.0}},
  "experimental": false }`
	cur, err := daemonJSONParse(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"log-driver":      "json-file",
		"log-opts":        map[string]any{"max-size": "10m", "max-file": "3"},
		"default-ulimits": map[string]any{"nofile": map[string]any{"Name": "nofile", "Soft": int64(64000), "Hard": int64(64000)}},
		"experimental":    false,
	}
	des, err := daemonJSONDesired(cur, cfg, true)
	if err != nil || !reflect.DeepEqual(cur, des) {
		t.Fatalf("merge of equal keys must be equal: %v\n%v\n%v", err, cur, des)
	}
	// replace drops storage-driver.
	des, _ = daemonJSONDesired(cur, cfg, false)
	if reflect.DeepEqual(cur, des) || des["storage-driver"] != nil {
		t.Errorf("replace: %v", des)
	}
	// merge sets a top-level key wholesale.
	des, _ = daemonJSONDesired(cur, map[string]any{"log-opts": map[string]any{"max-size": "20m"}, "metrics-addr": "127.0.0.1:9323"}, true)
	b, _ := daemonJSONEncode(des)
	want := `{
  "default-ulimits": {
    "nofile": {
      "Hard": 64000,
      "Name": "nofile",
      "Soft": 64000
    }
  },
  "experimental": false,
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "20m"
  },
  "metrics-addr": "127.0.0.1:9323",
  "storage-driver": "overlay2"
}
`
	if string(b) != want {
		t.Errorf("encoded:\n%s", b)
	}
	// The encoded form parses back to the same document.
	back, _ := daemonJSONParse(string(b))
	if !reflect.DeepEqual(back, des) {
		t.Error("round trip")
	}
	if m, err := daemonJSONParse("  \n"); err != nil || len(m) != 0 {
		t.Error("empty file is an empty object")
	}
	if _, err := daemonJSONParse("{bad"); err == nil {
		t.Error("invalid JSON")
	}
	if _, err := daemonJSONParse("[1]"); err == nil || !strings.Contains(err.Error(), "cannot unmarshal") {
		t.Errorf("non-object: %v", err)
	}
}

// The roll-back runs even when the step's own context is what ended the
// restart (its timeout or Ctrl-C): the previous file is back afterwards.
func TestDaemonJSONRollbackSurvivesExpiredContext(t *testing.T) {
	tg := genTarget(t)
	bin := t.TempDir()
	// The first restart outlives the step; the roll-back's fails at once.
	// Neither touches the machine's Docker.
	script := "#!/bin/sh\nif [ -e " + bin + "/again ]; then exit 1; fi\ntouch " + bin + "/again\nexec sleep 5\n"
	for _, name := range []string{"service", "systemctl"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	path := filepath.Join(tg.Dir, "daemon.json")
	old := "{\n  \"debug\": true\n}\n"
	os.WriteFile(path, []byte(old), 0o644)

	tg.Conn = ctxConn{tg.Conn}
	m, _ := Get("daemon_json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := m.Run(ctx, tg, genParams(t, "daemon_json", map[string]any{
		"path": path, "config": map[string]any{"mtu": int64(1400)}, "validate": false, "restart": true, "restart_timeout": int64(1)}))
	if err == nil || !strings.Contains(err.Error(), "the previous file was restored") {
		t.Errorf("error %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != old {
		t.Fatalf("daemon.json after the failed restart:\n%s\nwant the previous file back", got)
	}
}

// ctxConn refuses work on a finished context, as the SSH connection does
// (the local one writes files without looking at it).
type ctxConn struct{ connection.Conn }

func (c ctxConn) Run(ctx context.Context, cmd string, o connection.RunOpts) (*connection.RunResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Conn.Run(ctx, cmd, o)
}

func (c ctxConn) WriteFile(ctx context.Context, p string, data []byte, o connection.WriteOpts) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.Conn.WriteFile(ctx, p, data, o)
}
