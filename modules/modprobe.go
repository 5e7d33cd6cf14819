package modules

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

func init() {
	Register(&Module{
		Name: "modprobe",
		Doc: `Load (or unload) kernel modules now and optionally at every boot.
A module counts as loaded when it is in /proc/modules or built into the kernel:
/sys/module/NAME exists, it is listed in /lib/modules/$(uname -r)/modules.builtin,
or /proc/config.gz has its CONFIG_ symbol =y (known for common modules such as
br_netfilter, overlay, ip_vs, nf_conntrack, vxlan). A built-in module is never
an error, even on kernels without module support. With persist = True the names
go to /etc/modules-load.d/FILE.conf and parameters to /etc/modprobe.d/FILE.conf
(lines for other modules in those files are kept).

    modprobe(hosts("all"), modules = ["br_netfilter", "overlay",
             {"name": "nf_conntrack", "params": "hashsize=65536"}], persist = True)`,
		Params: []Param{
			{Name: "modules", Type: List, Required: true, Doc: `module names, or dicts {"name": ..., "params": "key=value ..."}`},
			{Name: "state", Type: String, Default: "present", Choices: []string{"present", "absent"}, Doc: "present: loaded; absent: unloaded (a built-in module cannot be, and fails)"},
			{Name: "persist", Type: Bool, Default: false, Doc: "also load at boot (modules-load.d) with params (modprobe.d); with state absent, remove them from those files"},
			{Name: "file", Type: String, Default: "swarmrun", Doc: "base name of the .conf files written when persist = True"},
		},
		Outputs: map[string]string{"builtin": "modules found built into the kernel"},
		Run:     runModprobe,
	})
}

// modprobeConfig maps common module names to the kernel config symbol that
// builds them; /proc/config.gz saying "=y" means built in. Built-ins such as
// br_netfilter do not always appear under /sys/module.
var modprobeConfig = map[string]string{
	"br_netfilter": "CONFIG_BRIDGE_NETFILTER", "bridge": "CONFIG_BRIDGE", "overlay": "CONFIG_OVERLAY_FS",
	"ip_vs": "CONFIG_IP_VS", "ip_vs_rr": "CONFIG_IP_VS_RR", "ip_vs_wrr": "CONFIG_IP_VS_WRR", "ip_vs_sh": "CONFIG_IP_VS_SH",
	"nf_conntrack": "CONFIG_NF_CONNTRACK", "nf_nat": "CONFIG_NF_NAT", "vxlan": "CONFIG_VXLAN", "veth": "CONFIG_VETH",
	"ip_tables": "CONFIG_IP_NF_IPTABLES", "ip6_tables": "CONFIG_IP6_NF_IPTABLES", "iptable_nat": "CONFIG_IP_NF_NAT",
	"iptable_filter": "CONFIG_IP_NF_FILTER", "iptable_mangle": "CONFIG_IP_NF_MANGLE", "xt_conntrack": "CONFIG_NETFILTER_XT_MATCH_CONNTRACK",
	"xt_MASQUERADE": "CONFIG_NETFILTER_XT_TARGET_MASQUERADE", "xt_mark": "CONFIG_NETFILTER_XT_MARK", "xt_ipvs": "CONFIG_NETFILTER_XT_MATCH_IPVS",
	"esp4": "CONFIG_INET_ESP", "xfrm_user": "CONFIG_XFRM_USER", "nf_tables": "CONFIG_NF_TABLES", "tun": "CONFIG_TUN",
	"ipip": "CONFIG_NET_IPIP", "wireguard": "CONFIG_WIREGUARD", "dm_thin_pool": "CONFIG_DM_THIN_PROVISIONING",
	"nfs": "CONFIG_NFS_FS", "ceph": "CONFIG_CEPH_FS", "rbd": "CONFIG_BLK_DEV_RBD", "iscsi_tcp": "CONFIG_ISCSI_TCP",
}

// modprobeName normalises a module name: the kernel treats - and _ alike.
func modprobeName(n string) string { return strings.ReplaceAll(strings.TrimSpace(n), "-", "_") }

type modprobeMod struct{ Name, Params string }

// modprobeState is what the host says about modules.
type modprobeState struct {
	HasModules bool            // /proc/modules exists (CONFIG_MODULES)
	Loaded     map[string]bool // in /proc/modules
	SysModule  map[string]bool // /sys/module/NAME exists
	Builtin    map[string]bool // in modules.builtin
	Config     map[string]string
	Bridge     bool // /proc/sys/net/bridge exists: br_netfilter is active
}

// modprobeParse reads the observation script's sections.
func modprobeParse(sec map[string]string) modprobeState {
	s := modprobeState{Loaded: map[string]bool{}, SysModule: map[string]bool{}, Builtin: map[string]bool{}, Config: map[string]string{}}
	if pm, ok := sec["proc-modules"]; ok {
		s.HasModules = true
		for _, l := range strings.Split(pm, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				s.Loaded[modprobeName(f[0])] = true
			}
		}
	}
	for _, l := range strings.Split(sec["sys-module"], "\n") {
		if n := strings.TrimSpace(l); n != "" {
			s.SysModule[modprobeName(n)] = true
		}
	}
	for _, l := range strings.Split(sec["builtin"], "\n") {
		b := strings.TrimSuffix(path.Base(strings.TrimSpace(l)), ".ko")
		if b != "" && b != "." {
			s.Builtin[modprobeName(b)] = true
		}
	}
	for _, l := range strings.Split(sec["config"], "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			s.Config[k] = v
		}
	}
	_, s.Bridge = sec["bridge"]
	return s
}

// builtin says whether name is part of the kernel image.
func (s modprobeState) builtin(name string) bool {
	if s.Builtin[name] || s.Config[modprobeConfig[name]] == "y" {
		return true
	}
	if name == "br_netfilter" && s.Bridge {
		return !s.Loaded[name]
	}
	// /sys/module also lists loaded modules; only without a /proc/modules
	// entry does it mean built in.
	return s.SysModule[name] && !s.Loaded[name]
}

// modprobeEditList returns the modules-load.d content with names added or
// removed; other lines are kept.
func modprobeEditList(content string, names []string, present bool) string {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	have := map[string]bool{}
	var out strings.Builder
	for _, l := range strings.SplitAfter(content, "\n") {
		if l == "" {
			continue
		}
		n := modprobeName(strings.TrimSpace(l))
		if n != "" && !strings.HasPrefix(n, "#") && !strings.HasPrefix(n, ";") && want[n] {
			if !present || have[n] {
				continue
			}
			have[n] = true
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		out.WriteString(l)
	}
	if present {
		for _, n := range names {
			if !have[n] {
				if out.Len() == 0 {
					out.WriteString("# Managed by swarmrun (modprobe module).\n")
				}
				have[n] = true
				out.WriteString(n + "\n")
			}
		}
	}
	return out.String()
}

// modprobeEditOptions returns the modprobe.d content with an "options NAME
// PARAMS" line per module that has params (replaced in place), and none for
// modules being removed.
func modprobeEditOptions(content string, mods []modprobeMod, present bool) string {
	want := map[string]string{}
	for _, m := range mods {
		if m.Params != "" || !present {
			want[m.Name] = m.Params
		}
	}
	done := map[string]bool{}
	var out strings.Builder
	for _, l := range strings.SplitAfter(content, "\n") {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "options" {
			n := modprobeName(f[1])
			if p, mine := want[n]; mine {
				if !present || done[n] {
					continue
				}
				done[n] = true
				if strings.Join(f[2:], " ") != p {
					l = "options " + n + " " + p + "\n"
				}
			}
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		out.WriteString(l)
	}
	if present {
		for _, m := range mods {
			if m.Params != "" && !done[m.Name] {
				if out.Len() == 0 {
					out.WriteString("# Managed by swarmrun (modprobe module).\n")
				}
				done[m.Name] = true
				out.WriteString("options " + m.Name + " " + m.Params + "\n")
			}
		}
	}
	return out.String()
}

func modprobeMods(raw []any) ([]modprobeMod, error) {
	var mods []modprobeMod
	for i, r := range raw {
		var m modprobeMod
		switch x := r.(type) {
		case string:
			m.Name = x
		case map[string]any:
			for k := range x {
				if k != "name" && k != "params" {
					return nil, fmt.Errorf("modprobe: modules[%d]: unknown key %q (want name, params)", i, k)
				}
			}
			m.Name, m.Params = hpScalar(x["name"]), strings.Join(strings.Fields(hpScalar(x["params"])), " ")
		default:
			return nil, fmt.Errorf("modprobe: modules[%d] must be a name or a dict", i)
		}
		m.Name = modprobeName(m.Name)
		if !modprobeNameRe.MatchString(m.Name) {
			return nil, fmt.Errorf("modprobe: modules[%d]: invalid module name %q", i, m.Name)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// Names that reach shell text are allow-listed: kernel module names, and
// the base name of the .conf files.
var (
	modprobeNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	modprobeFileRe = regexp.MustCompile(`^[A-Za-z0-9_@-][A-Za-z0-9_.@-]*$`)
)

func runModprobe(ctx context.Context, t *Target, p Params) (*Result, error) {
	mods, err := modprobeMods(p.List("modules"))
	if err != nil {
		return nil, err
	}
	present := p.String("state") != "absent"
	base := p.String("file")
	if !modprobeFileRe.MatchString(base) {
		return nil, fmt.Errorf("modprobe: file %q must be a plain name (letters, digits, . _ @ -)", base)
	}
	files := modprobeFiles{"/etc/modules-load.d/" + base + ".conf", "/etc/modprobe.d/" + base + ".conf"}
	out, err := Sh(ctx, t, modprobeScript(mods, p.Bool("persist"), files))
	if err != nil {
		return nil, fmt.Errorf("modprobe: inspecting kernel modules: %w", err)
	}
	sec := hpSections(out)
	st := modprobeParse(sec)
	plan := NewPlan("modprobe", "modules already "+map[bool]string{true: "loaded", false: "unloaded"}[present])
	if p.Bool("persist") {
		modprobePlanFiles(t, plan, sec, mods, present, files)
	}
	builtins, err := modprobePlanLive(t, plan, st, mods, present)
	if err != nil {
		return nil, err
	}
	if len(builtins) > 0 {
		plan.Unchanged += " (built in: " + strings.Join(builtins, ", ") + ")"
	}
	bl := make([]any, len(builtins))
	for i, b := range builtins {
		bl[i] = b
	}
	return plan.Apply(ctx, t, &Result{Outputs: map[string]any{"builtin": bl}})
}

// modprobeFiles are the files persist = True edits.
type modprobeFiles struct{ load, opt string }

// modprobeScript observes in one round trip, and with no process at all on
// a host where /sys shows every module (an exec costs more than all the
// tests here together). Loaded modules have /sys/module/NAME/initstate,
// built-ins do not; the proc-modules section lists the loaded ones among
// ours. The list of built-ins and the kernel config are read only for a
// module /sys does not show (a built-in without parameters, or one not
// loaded).
func modprobeScript(mods []modprobeMod, persist bool, files modprobeFiles) string {
	var names, syms []string
	for _, m := range mods {
		names = append(names, m.Name)
		if s := modprobeConfig[m.Name]; s != "" {
			syms = append(syms, s)
		}
	}
	var sc strings.Builder
	sc.WriteString("[ -e /proc/modules ] && { " + hpSection("proc-modules") + "\n")
	for _, n := range names {
		fmt.Fprintf(&sc, "[ -f /sys/module/%s/initstate ] && echo %s\n", n, n)
	}
	sc.WriteString("}\n" + hpSection("sys-module") + "\nneed=\n")
	for _, n := range names {
		seen := "[ -d /sys/module/" + n + " ]"
		if n == "br_netfilter" {
			seen += " || [ -d /proc/sys/net/bridge ]"
		}
		fmt.Fprintf(&sc, "[ -d /sys/module/%s ] && echo %s\n%s || need=1\n", n, n, seen)
	}
	sc.WriteString(`[ -n "$need" ] && { ` + hpSection("builtin") + "; cat /lib/modules/$(uname -r)/modules.builtin 2>/dev/null; }\n")
	if len(syms) > 0 {
		fmt.Fprintf(&sc, "[ -n \"$need\" ] && [ -r /proc/config.gz ] && { %s; zcat /proc/config.gz 2>/dev/null | grep -E '^(%s)='; }\n", hpSection("config"), strings.Join(syms, "|"))
	}
	sc.WriteString("[ -d /proc/sys/net/bridge ] && " + hpSection("bridge") + "\n")
	if persist {
		for name, f := range map[string]string{"load-file": files.load, "opt-file": files.opt} {
			fmt.Fprintf(&sc, "[ -e %s ] && { %s; %s; }\n", Quote(f), hpSection(name), hpCat(f))
		}
	}
	sc.WriteString("true\n")
	return sc.String()
}

// modprobePlanFiles plans the modules-load.d and modprobe.d edits. They
// come first: the files are written before any module is loaded.
func modprobePlanFiles(t *Target, plan *Plan, sec map[string]string, mods []modprobeMod, present bool, files modprobeFiles) {
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	oldLoad, loadExists := sec["load-file"]
	oldOpt, optExists := sec["opt-file"]
	newLoad := modprobeEditList(oldLoad, names, present)
	newOpt := modprobeEditOptions(oldOpt, mods, present)
	if newLoad != oldLoad || (present && !loadExists) {
		plan.UpdateFile(t, files.load, oldLoad, newLoad, 0o644)
	}
	if newOpt != oldOpt && (optExists || newOpt != "") {
		plan.UpdateFile(t, files.opt, oldOpt, newOpt, 0o644)
	}
}

// modprobePlanLive plans the loads and unloads (one change, one round trip)
// and returns the built-in modules among mods, sorted.
func modprobePlanLive(t *Target, plan *Plan, st modprobeState, mods []modprobeMod, present bool) ([]string, error) {
	var cmds, notes, builtins, unload []string
	for _, m := range mods {
		bi := st.builtin(m.Name)
		if bi {
			builtins = append(builtins, m.Name)
		}
		switch {
		case present && (st.Loaded[m.Name] || bi):
		case present && !st.HasModules:
			sym := modprobeConfig[m.Name]
			why := "its CONFIG_ symbol is unknown to swarmrun"
			if sym != "" {
				why = sym + " is " + map[bool]string{true: "=" + st.Config[sym], false: "not set"}[st.Config[sym] != ""]
			}
			return nil, fmt.Errorf("modprobe: %s is not built into the kernel of %s, which has no module support (%s)", m.Name, t.Name, why)
		case present:
			cmd := "modprobe " + m.Name
			for _, kv := range strings.Fields(m.Params) {
				cmd += " " + Quote(kv)
			}
			cmds = append(cmds, cmd)
			notes = append(notes, "load "+m.Name)
		case bi:
			return nil, fmt.Errorf("modprobe: %s is built into the kernel of %s and cannot be unloaded", m.Name, t.Name)
		case st.Loaded[m.Name]:
			unload = append(unload, m.Name)
			notes = append(notes, "unload "+m.Name)
		}
	}
	if len(unload) > 0 {
		cmds = append(cmds, "modprobe -r "+strings.Join(unload, " "))
	}
	if len(cmds) > 0 {
		// One round trip; set -e stops at the first module that fails and
		// the error names its command.
		plan.Add(strings.Join(notes, ", "), strings.Join(notes, "\n")+"\n", func(ctx context.Context) error {
			_, err := Sh(ctx, t, "set -e\n"+strings.Join(cmds, "\n"))
			if err != nil {
				return fmt.Errorf("%s: %w", strings.Join(cmds, "; "), err)
			}
			return nil
		})
	}
	sort.Strings(builtins)
	return builtins, nil
}
