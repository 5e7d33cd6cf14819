package modules

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Fuzz targets for the inputs modules parse on the controller (make fuzz
// runs each for a few seconds; seeds under testdata/fuzz/).

// FuzzDaemonJSONMerge: whatever is on the host and whatever the playbook
// asks, the document written must read back as exactly what was planned
// (else every run would change it again).
func FuzzDaemonJSONMerge(f *testing.F) {
	f.Add(`{"log-driver":"json-file","log-opts":{"max-size":"10m"}}`, `{"log-opts":{"max-file":"3"},"mtu":1450}`, true)
	f.Add(`{"n": 12345678901234567890123}`, `{"n": 1e400}`, true)
	f.Add("", `{}`, false)
	f.Add(`{"a":1}{"b":2}`, `{"a":[1,2.0,3e0]}`, true)
	f.Fuzz(func(t *testing.T, current, config string, merge bool) {
		cur, err := daemonJSONParse(current)
		if err != nil {
			return
		}
		var cfg map[string]any
		if json.Unmarshal([]byte(config), &cfg) != nil {
			return
		}
		want, err := daemonJSONDesired(cur, cfg, merge)
		if err != nil {
			return
		}
		text, err := daemonJSONEncode(want)
		if err != nil {
			t.Fatalf("planned document does not encode: %v", err)
		}
		back, err := daemonJSONParse(string(text))
		if err != nil {
			t.Fatalf("written document does not parse: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("round trip differs:\nwant %#v\ngot  %#v", want, back)
		}
	})
}
