package modules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

func init() {
	Register(&Module{
		Name: "reboot",
		Doc: `Reboot the host, wait until it answers over SSH again, report how long it took.

The host's boot ID (/proc/sys/kernel/random/boot_id) is read first; the
reboot command is started in the background (so the SSH session can end
cleanly), then the step reconnects every few seconds until the host answers
with a new boot ID, up to reboot_timeout. A host that does not come back
fails the step (and, inside rolling(), stops the rolling change). Under
--check the step says it would reboot and touches nothing. Reboot a swarm
node only after draining it and checking the quorum (playbooks/reboot.star):

    rolling(hosts("workers"), lambda b: reboot(b), batch = 1)`,
		Params: []Param{
			{Name: "reboot_command", Type: String, Default: "systemctl reboot || shutdown -r now || reboot", Doc: "the shell command that reboots the host"},
			{Name: "reboot_timeout", Type: Int, Default: int64(600), Doc: "seconds to wait for the host to answer with a new boot ID"},
		},
		Outputs: map[string]string{
			"boot_seconds": "seconds from the reboot command until the host answered again",
			"boot_id":      "the host's boot ID after the reboot",
		},
		Run: runReboot,
	})
}

// bootIDCmd prints the kernel's boot ID, which changes on every boot (tests
// point it elsewhere).
var bootIDCmd = "cat /proc/sys/kernel/random/boot_id"

// rebootPoll is how often the host is tried while it reboots.
var rebootPoll = 3 * time.Second

func runReboot(ctx context.Context, t *Target, p Params) (*Result, error) {
	before, err := Sh(ctx, t, bootIDCmd)
	if err != nil {
		return nil, fmt.Errorf("reboot: reading the boot ID: %w", err)
	}
	before = strings.TrimSpace(before)
	if t.Reconnect == nil && !t.Check {
		return nil, errors.New("reboot: this connection cannot reconnect after a reboot")
	}
	res := &Result{}
	plan := NewPlan("reboot", "")
	plan.Add("reboot", "boot "+before+" -> (new boot)\n", func(ctx context.Context) error {
		start := time.Now()
		// In the background and detached: the session ends before the host
		// goes down, so the command itself does not fail.
		cmd := "nohup sh -c " + Quote("sleep 1; "+p.String("reboot_command")) + " >/dev/null 2>&1 </dev/null &"
		if _, err := Sh(ctx, t, cmd); err != nil {
			return fmt.Errorf("starting %q: %w", p.String("reboot_command"), err)
		}
		after, err := waitReboot(ctx, t, before, time.Duration(p.Int("reboot_timeout"))*time.Second)
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		plan.Note(fmt.Sprintf("back after %.1f s", secs))
		res.Outputs = map[string]any{"boot_seconds": secs, "boot_id": after}
		return nil
	})
	return plan.Apply(ctx, t, res)
}

// waitReboot reconnects until the host answers with a boot ID other than
// before; t.Conn is then the new connection.
func waitReboot(ctx context.Context, t *Target, before string, timeout time.Duration) (string, error) {
	after := ""
	err := waitUntil(ctx, timeout, rebootPoll, func() (bool, string, error) {
		c, err := t.Reconnect(ctx)
		if err != nil {
			return false, "not answering: " + err.Error(), nil
		}
		t.Conn = c
		out, err := Sh(ctx, t, bootIDCmd)
		if err != nil {
			return false, "not answering: " + err.Error(), nil
		}
		after = strings.TrimSpace(out)
		return after != before, "still the same boot (the reboot has not happened yet)", nil
	})
	if err != nil {
		return "", fmt.Errorf("the host did not come back: %w", err)
	}
	return after, nil
}
