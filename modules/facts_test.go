package modules

import (
	"os"
	"reflect"
	"testing"
)

func TestParseFacts(t *testing.T) {
	out := `os=Linux
arch=x86_64
kernel=6.1.0-18-amd64
hostname=h1
fqdn=
distro=debian
distro_version=12
distro_codename=bookworm
distro_like=
init=sysv
cpus=2
memory_kb=4030000
addr=lo 10.9.9.9/32
addr=eth0 198.18.0.11/24
addr=eth0 2001:db8::1/64
addr=eth1 10.0.0.5/8
defdev=eth0
`
	f := parseFacts(out)
	want := map[string]any{
		"os": "Linux", "arch": "x86_64", "kernel": "6.1.0-18-amd64", "hostname": "h1", "fqdn": "h1",
		"distro": "debian", "distro_version": "12", "distro_codename": "bookworm", "distro_like": "debian",
		"init": "sysv", "cpus": int64(2), "memory_mb": int64(3935),
		"addresses":    []any{"10.9.9.9", "198.18.0.11", "2001:db8::1", "10.0.0.5"},
		"default_ipv4": "198.18.0.11",
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("parseFacts:\n got %#v\nwant %#v", f, want)
	}
	// A minimal host: nothing but uname.
	f = parseFacts("os=Linux\nhostname=x\n")
	if f["default_ipv4"] != "" || f["cpus"] != int64(0) || f["fqdn"] != "x" || len(f["addresses"].([]any)) != 0 {
		t.Fatalf("minimal: %#v", f)
	}
}

func TestFactsLocal(t *testing.T) {
	tg := genTarget(t)
	for _, check := range []bool{false, true} {
		r, err := genRun(t, tg, check, "facts", nil)
		if err != nil || r.Changed {
			t.Fatalf("%+v %v", r, err)
		}
		f := r.Outputs
		host, _ := os.Hostname()
		if f["os"] != "Linux" || f["hostname"] != host || f["kernel"] == "" || f["arch"] == "" || f["distro"] == "" || f["cpus"].(int64) < 1 || f["memory_mb"].(int64) < 1 {
			t.Fatalf("facts: %#v", f)
		}
		if f["init"] != "systemd" && f["init"] != "sysv" {
			t.Fatalf("init %q", f["init"])
		}
	}
}
