package modules

import (
	"io/fs"
	"testing"
)

func TestParseMode(t *testing.T) {
	good := []struct {
		in   any
		want uint32
	}{
		{"0644", 0o644}, {"644", 0o644}, {"0o755", 0o755}, {"4755", 0o4755}, {" 0600 ", 0o600},
		{int64(0o640), 0o640}, {int64(0), 0},
	}
	for _, c := range good {
		got, err := parseMode(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseMode(%#v) = %o, %v; want %o", c.in, got, err, c.want)
		}
	}
	for _, bad := range []any{"", "0988", "rw-r--r--", "17777", int64(-1), int64(0o10000), 1.5, true} {
		if _, err := parseMode(bad); err == nil {
			t.Errorf("parseMode(%#v): want an error", bad)
		}
	}
}

func TestModeRoundTrip(t *testing.T) {
	for _, u := range []uint32{0, 0o644, 0o755, 0o4755, 0o2750, 0o1777, 0o7777} {
		if got := unixMode(goMode(u)); got != u {
			t.Errorf("unixMode(goMode(%o)) = %o", u, got)
		}
	}
	if got := unixMode(fs.ModeDir | fs.ModeSticky | 0o777); got != 0o1777 {
		t.Errorf("unixMode(dir|sticky|777) = %o", got)
	}
	if fmtMode(0o644) != "0644" || fmtMode(0o4755) != "4755" {
		t.Error("fmtMode")
	}
}
