package modules

import (
	"reflect"
	"strings"
	"testing"
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
