package modules

import (
	"strings"
	"testing"
)

func TestLimitsEdit(t *testing.T) {
	es, err := limitsEntries([]any{
		map[string]any{"domain": "*", "type": "soft", "item": "nofile", "value": int64(65536)},
		map[string]any{"domain": "*", "type": "hard", "item": "nofile", "value": int64(65536)},
		map[string]any{"domain": "root", "type": "-", "item": "nproc", "value": "unlimited"},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	old := "# local tuning\n*    soft  nofile  1024\n@admins hard core 0\n*\tsoft\tnofile\t2048\n"
	got := limitsEdit(old, es, true)
	want := "# local tuning\n* soft nofile 65536\n@admins hard core 0\n* hard nofile 65536\nroot - nproc unlimited\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if again := limitsEdit(got, es, true); again != got {
		t.Errorf("not idempotent: %q", again)
	}
	// An existing line with the right value keeps its spacing.
	if got := limitsEdit("*\tsoft\tnofile\t65536\n", es[:1], true); got != "*\tsoft\tnofile\t65536\n" {
		t.Errorf("kept line: %q", got)
	}
	if got := limitsEdit(want, es[:2], false); got != "# local tuning\n@admins hard core 0\nroot - nproc unlimited\n" {
		t.Errorf("absent: %q", got)
	}
	// pam_limits ignores everything after '#': a line with a trailing
	// comment is the entry's line, replaced (not duplicated) when its value
	// differs, kept as it is when the value is right, removed when absent.
	if got := limitsEdit("*  soft  nofile  1024   # raised below\n", es[:1], true); got != "* soft nofile 65536\n" {
		t.Errorf("trailing comment, other value: %q", got)
	}
	if got := limitsEdit("* soft nofile 65536 # ok\n", es[:1], true); got != "* soft nofile 65536 # ok\n" {
		t.Errorf("trailing comment, right value: %q", got)
	}
	if got := limitsEdit("* soft nofile 65536 # ok\n# * soft nofile 1\n", es[:1], false); got != "# * soft nofile 1\n" {
		t.Errorf("trailing comment, absent: %q", got)
	}
	if got := limitsEdit("", es[:1], true); !strings.HasPrefix(got, "# Managed by swarmrun") {
		t.Errorf("new: %q", got)
	}
	for _, bad := range []map[string]any{
		{"domain": "*", "type": "medium", "item": "nofile", "value": int64(1)},
		{"domain": "*", "type": "soft", "item": "nofiles", "value": int64(1)},
		{"domain": "", "type": "soft", "item": "nofile", "value": int64(1)},
		{"domain": "*", "type": "soft", "item": "nofile"},
		{"domain": "*", "type": "soft", "item": "nofile", "value": int64(1), "extra": 1},
	} {
		if _, err := limitsEntries([]any{bad}, true); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
