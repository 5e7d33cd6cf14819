package modules

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestModprobeState(t *testing.T) {
	// No module support (like the lab's kernel): no proc-modules section.
	st := modprobeParse(map[string]string{
		"sys-module": "overlay\n",
		"config":     "CONFIG_BRIDGE_NETFILTER=y\nCONFIG_OVERLAY_FS=y\nCONFIG_IP_VS=m\n",
		"bridge":     "",
	})
	if st.HasModules || !st.builtin("br_netfilter") || !st.builtin("overlay") || st.builtin("ip_vs") || st.builtin("dummy") {
		t.Errorf("no-module kernel: %+v", st)
	}
	// A modular kernel: loaded module also in /sys/module is not built in.
	st = modprobeParse(map[string]string{
		"proc-modules": "br_netfilter 32768 0 - Live 0x0\nbridge 311296 1 br_netfilter, Live 0x0\n",
		"sys-module":   "br_netfilter\nnf_conntrack\n",
		"builtin":      "kernel/fs/overlayfs/overlay.ko\nkernel/net/netfilter/nf-conntrack.ko\n",
	})
	if !st.HasModules || !st.Loaded["br_netfilter"] || st.builtin("br_netfilter") || !st.builtin("overlay") || !st.builtin("nf_conntrack") {
		t.Errorf("modular kernel: %+v", st)
	}
}

func TestModprobeFiles(t *testing.T) {
	got := modprobeEditList("# mine\nloop\n", []string{"br_netfilter", "overlay"}, true)
	if got != "# mine\nloop\nbr_netfilter\noverlay\n" {
		t.Errorf("list: %q", got)
	}
	if again := modprobeEditList(got, []string{"br_netfilter", "overlay"}, true); again != got {
		t.Errorf("list not idempotent: %q", again)
	}
	if got := modprobeEditList(got, []string{"overlay"}, false); got != "# mine\nloop\nbr_netfilter\n" {
		t.Errorf("list absent: %q", got)
	}
	mods, err := modprobeMods([]any{"br-netfilter", map[string]any{"name": "nf_conntrack", "params": "hashsize=65536  expect_hashsize=1"}})
	if err != nil || mods[0].Name != "br_netfilter" || mods[1].Params != "hashsize=65536 expect_hashsize=1" {
		t.Fatalf("%+v %v", mods, err)
	}
	opt := modprobeEditOptions("options nf_conntrack hashsize=1\noptions loop max_loop=8\n", mods, true)
	if opt != "options nf_conntrack hashsize=65536 expect_hashsize=1\noptions loop max_loop=8\n" {
		t.Errorf("options: %q", opt)
	}
	if again := modprobeEditOptions(opt, mods, true); again != opt {
		t.Errorf("options not idempotent: %q", again)
	}
	if got := modprobeEditOptions("", mods[:1], true); got != "" {
		t.Errorf("no params, no file: %q", got)
	}
	for _, bad := range []any{"a b", "x;y", map[string]any{"name": "x", "opts": "y"}, int64(3)} {
		if _, err := modprobeMods([]any{bad}); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

// On this machine's real kernel, in check mode (nothing is loaded or written):
// br_netfilter and overlay are built in or loadable, never an error.
func TestModprobeCheckModeLocal(t *testing.T) {
	if _, err := os.Stat("/proc/config.gz"); err != nil {
		if _, err := os.Stat("/proc/modules"); err != nil {
			t.Skip("kernel tells nothing about its modules")
		}
	}
	m, _ := Get("modprobe")
	r, err := m.Run(context.Background(), checkTarget(t), Params{"modules": []any{"br_netfilter", "overlay"}, "state": "present", "persist": false, "file": "swarmrun"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("changed=%v msg=%s builtin=%v", r.Changed, r.Msg, r.Outputs["builtin"])
	if _, err := os.Stat("/proc/modules"); err != nil && r.Changed {
		t.Errorf("no module support, yet a change is predicted: %s", r.Msg)
	}
	if _, err := os.Stat("/proc/modules"); err != nil {
		_, err := m.Run(context.Background(), checkTarget(t), Params{"modules": []any{"no_such_module_x"}, "state": "present", "persist": false, "file": "swarmrun"})
		if err == nil || !strings.Contains(err.Error(), "no_such_module_x") {
			t.Errorf("unknown module on a kernel without modules: %v", err)
		}
	}
}
