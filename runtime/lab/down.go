package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down removes the lab in dir: host processes, namespaces, links, firewall
// rules, cgroups and files. It succeeds when there is nothing to remove and
// copes with a partial state file by falling back to the names derived from
// the lab's network number.
func Down(dir string) error { return DownNet(dir, -1) }

// DownNet is Down that also removes what network number net left behind
// when the state file is gone (net < 0: only what the state file names).
func DownNet(dir string, net int) error {
	if dir == "" {
		dir = DirFromEnv()
	}
	dir, _ = filepath.Abs(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Load(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// A torn state file: keep going with what the names tell.
		l = nil
	}
	nets, err := downNets(l, dir, net)
	if err != nil {
		return err
	}
	var errs []error

	// 1. Processes: the recorded ones, and anything else still inside one of
	// the lab's network namespaces. Killing a host's init (PID 1 of its PID
	// namespace) makes the kernel kill everything in it, containers included.
	var victims []proc
	if l != nil {
		for _, h := range l.Hosts {
			victims = append(victims, proc{h.PID, h.PIDStart}, proc{h.SetupPID, h.SetupStart})
		}
	}
	for k := range nets {
		victims = append(victims, procsInNetns(k)...)
		victims = append(victims, freshProcs(k)...)
	}
	if err := killAll(victims); err != nil {
		errs = append(errs, err)
	}
	// 2. to 4., per network number.
	for k := range nets {
		errs = append(errs, downNetwork(ctx, k)...)
	}

	// 5. Mounts below the lab directory in the machine's namespace (hosts'
	// mounts live in their own namespaces and died with them).
	for _, m := range mountsUnder(dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	// 6. Files, only once nothing can be using them and nothing is mounted
	// below: RemoveAll must never walk into a live host's filesystem.
	if ms := mountsUnder(dir); len(ms) > 0 {
		return fmt.Errorf("lab down: still mounted below %s: %s", dir, strings.Join(ms, ", "))
	}
	return removeLabFiles(dir)
}

// downNets are the network numbers DownNet removes. Names derived from K
// might belong to someone else's lab on this shared machine (a second `up`
// on a K in use fails and cleans up after itself): only remove them when
// the bridge is ours or its owner is gone.
func downNets(l *Lab, dir string, net int) (map[int]bool, error) {
	nets := map[int]bool{}
	if l != nil && !otherOwner(l.Net, dir) {
		nets[l.Net] = true
	}
	if net >= 0 && !nets[net] {
		if otherOwner(net, dir) {
			owner := netOwner(net)
			return nil, fmt.Errorf("lab down: network %d belongs to the running lab in %s (swarmrun lab down --dir %s)", net, owner, owner)
		}
		nets[net] = true
	}
	return nets, nil
}

// downNetwork removes network number k's namespaces, links, firewall
// rules, nspawn leftovers and cgroups, and checks that they are gone.
func downNetwork(ctx context.Context, k int) (errs []error) {
	// 2. Network namespaces (their veth ends go with them), veths, bridge.
	// Deleting a namespace takes its veth ends, and so the pairs, along;
	// links are listed again after that.
	var b strings.Builder
	for _, ns := range labNetns(k) {
		fmt.Fprintf(&b, "netns del %s\n", ns)
	}
	if b.Len() > 0 {
		if _, err := run(ctx, b.String(), "ip", "-force", "-batch", "-"); err != nil {
			errs = append(errs, err)
		}
	}
	// The kernel dismantles a deleted namespace (and the veth pairs with
	// an end in it) asynchronously: give it a moment before deleting
	// what is left by hand.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ls := labLinks(k); len(ls) == 0 || len(ls) == 1 && ls[0] == bridgeName(k) {
			break
		}
	}
	for _, link := range labLinks(k) {
		if _, err := run(ctx, "", "ip", "link", "del", link); err != nil && linkExists(link) {
			errs = append(errs, err)
		}
	}
	// 3. Firewall.
	errs = append(errs, teardownFirewall(ctx, k)...)
	// Fresh hosts: what systemd-nspawn leaves below /run on the machine.
	errs = append(errs, removeNspawnRun(k)...)
	// 4. Cgroups of containers killed with their engine.
	if err := removeCgroups(k); err != nil {
		errs = append(errs, err)
	}
	// What is left must really be gone.
	for _, ns := range labNetns(k) {
		errs = append(errs, fmt.Errorf("network namespace %s still exists", ns))
	}
	for _, link := range labLinks(k) {
		errs = append(errs, fmt.Errorf("link %s still exists", link))
	}
	return errs
}

type proc struct {
	pid   int
	start uint64
}

// killAll SIGKILLs the processes that still are who they were and waits
// until they are gone.
func killAll(ps []proc) error {
	for _, p := range ps {
		if alive(p.pid, p.start) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left []string
		for _, p := range ps {
			if alive(p.pid, p.start) {
				left = append(left, strconv.Itoa(p.pid))
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still running after SIGKILL: %s", strings.Join(left, " "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// labNetns lists the named network namespaces of lab k.
func labNetns(k int) []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, netnsPrefix(k)) && isDigits(n[len(netnsPrefix(k)):]) {
			out = append(out, n)
		}
	}
	return out
}

// labLinks lists lab k's veths and bridge in the machine's namespace.
func labLinks(k int) []string {
	ents, _ := os.ReadDir("/sys/class/net")
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, vethPrefix(k)) && isDigits(n[len(vethPrefix(k)):]) {
			out = append(out, n)
		}
	}
	if linkExists(bridgeName(k)) {
		out = append(out, bridgeName(k)) // after its ports
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// procsInNetns finds every process whose network namespace is one of lab k's.
func procsInNetns(k int) []proc {
	inodes := map[uint64]bool{}
	for _, ns := range labNetns(k) {
		var st syscall.Stat_t
		if syscall.Stat("/run/netns/"+ns, &st) == nil {
			inodes[st.Ino] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	return procsWhere(func(dir string) bool {
		var st syscall.Stat_t
		return syscall.Stat(dir+"/ns/net", &st) == nil && inodes[st.Ino]
	})
}

// procsWhere lists the processes (but this one) whose /proc directory
// satisfies match.
func procsWhere(match func(procDir string) bool) []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if match("/proc/" + e.Name()) {
			out = append(out, proc{pid, procStart(pid)})
		}
	}
	return out
}

// removeCgroups removes the per-host cgroup parents (and the container
// cgroups below them) that the hosts' dockerd made in every hierarchy.
func removeCgroups(k int) error {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	prefix := fmt.Sprintf("srlab%d-h", k)
	for _, r := range roots {
		ents, _ := os.ReadDir(r)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) && isDigits(e.Name()[len(prefix):]) {
				dirs = append(dirs, filepath.Join(r, e.Name()))
			}
		}
	}
	// A cgroup can be removed only once its killed tasks are fully gone,
	// which lags the kill a little.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var last error
		for _, d := range dirs {
			if err := rmdirTree(d); err != nil {
				last = err
			}
		}
		if last == nil || time.Now().After(deadline) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rmdirTree removes a cgroup directory depth-first (cgroupfs only allows
// rmdir of empty groups; their files vanish with them).
func rmdirTree(d string) error {
	ents, err := os.ReadDir(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(d, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("rmdir %s: %w", d, err)
	}
	return nil
}

// mountsUnder lists mount points at or below dir in our mount namespace,
// deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// labFiles are the entries Up creates in the lab directory; Down removes
// those and then the directory if it is empty, leaving anything else alone.
var labFiles = []string{"hosts", "hosts.tmp", "inventory", "id_ed25519", "id_ed25519.pub", "known_hosts",
	"testweb.tar", "testweb.tar.tmp", "testweb.tar.bin", "state.json.tmp", "state.json"}

func removeLabFiles(dir string) error {
	var errs []error
	for _, f := range labFiles {
		if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// netOwner returns the lab directory recorded in network k's bridge alias.
func netOwner(k int) string {
	b, err := os.ReadFile("/sys/class/net/" + bridgeName(k) + "/ifalias")
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "swarmrun-lab:")
}

// otherOwner reports whether network k belongs to a running lab other than
// the one in dir.
func otherOwner(k int, dir string) bool {
	owner := netOwner(k)
	if owner == "" || owner == dir {
		return false
	}
	ol, err := Load(owner)
	return err == nil && ol.anyAlive()
}

// freshProcs finds the supervisors and systemd-nspawn processes of lab k's
// fresh hosts by their command lines (the supervisor and nspawn stay in the
// machine's network namespace, so procsInNetns misses them).
func freshProcs(k int) []proc {
	return procsWhere(func(dir string) bool {
		b, err := os.ReadFile(dir + "/cmdline")
		return err == nil && isFreshProc(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), k)
	})
}

// isFreshProc: `<self> swarmrun-lab-host srlabK-hI` or `systemd-nspawn ... -M srlabK-hI ...`.
func isFreshProc(args []string, k int) bool {
	ours := func(name string) bool {
		p := netnsPrefix(k)
		return strings.HasPrefix(name, p) && isDigits(name[len(p):])
	}
	if len(args) == 3 && args[1] == superviseArg && ours(args[2]) {
		return true
	}
	if len(args) == 0 || filepath.Base(args[0]) != "systemd-nspawn" {
		return false
	}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-M" && ours(args[i+1]) {
			return true
		}
	}
	return false
}

// removeNspawnRun removes the directories systemd-nspawn keeps per machine
// below /run/systemd/nspawn (it cannot remove them itself here).
func removeNspawnRun(k int) []error {
	var errs []error
	for _, sub := range []string{"propagate", "unix-export", "incoming"} {
		ents, _ := os.ReadDir(filepath.Join("/run/systemd/nspawn", sub))
		for _, e := range ents {
			p := netnsPrefix(k)
			if n := e.Name(); strings.HasPrefix(n, p) && isDigits(n[len(p):]) {
				path := filepath.Join("/run/systemd/nspawn", sub, n)
				syscall.Unmount(path, syscall.MNT_DETACH)
				if err := os.RemoveAll(path); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errs
}

// PurgeImages removes the cached root filesystems of fresh hosts.
func PurgeImages() error { return os.RemoveAll(ImageCacheDir) }
