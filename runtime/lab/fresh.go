package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// superviseEnv turns this binary into a fresh host's supervisor (see
// supervise), by the same re-exec trick as initEnv.
const superviseEnv = "SWARMRUN_LAB_SUPERVISE"

// superviseArg is argv[1] of a supervisor, so that `lab down` finds the
// supervisors of a crashed lab by their command line.
const superviseArg = "swarmrun-lab-host"

// freshConfig is what a fresh host's supervisor reads from its config.json.
type freshConfig struct {
	Name    string `json:"name"`    // host name inside (hN)
	Machine string `json:"machine"` // nspawn machine name and cgroup name, unique on the machine
	Root    string `json:"root"`    // the host's overlay root, mounted by `lab up`
	Netns   string `json:"netns"`
	HostDir string `json:"host_dir"`
}

// bootsFile counts a host's boots; written by its supervisor.
func bootsFile(hostDir string) string { return filepath.Join(hostDir, "boots") }

// prepareFresh mounts host i's overlay root (lower: the cached image) and
// writes what makes it one host among others: name, addresses, host key,
// the admin user's authorized key, machine ID.
func (l *Lab) prepareFresh(i int, clientKey ssh.PublicKey, hostKey ed25519.PrivateKey, etcHosts string) error {
	h := l.Hosts[i]
	hdir := filepath.Join(l.Dir, "hosts", h.Name)
	root := filepath.Join(hdir, "root")
	for _, d := range []string{"upper", "work", "root", "docker", "containerd"} {
		if err := os.MkdirAll(filepath.Join(hdir, d), 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + l.ImageDir + ",upperdir=" + filepath.Join(hdir, "upper") + ",workdir=" + filepath.Join(hdir, "work")
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("%s: mount overlay: %w", h.Name, err)
	}
	blk, err := ssh.MarshalPrivateKey(hostKey, "root@"+h.Name)
	if err != nil {
		return err
	}
	id := make([]byte, 16)
	rand.Read(id)
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"etc/hostname", 0o644, h.Name + "\n"},
		// The host's own name resolves locally, as cloud-init arranges, so
		// sudo does not stall on a lookup.
		{"etc/hosts", 0o644, "127.0.1.1\t" + h.Name + "\n" + etcHosts},
		{"etc/resolv.conf", 0o644, "# swarmrun lab host: no DNS, see /etc/hosts\noptions timeout:1 attempts:1\n"},
		{"etc/machine-id", 0o444, hex.EncodeToString(id) + "\n"},
		{"etc/ssh/ssh_host_ed25519_key", 0o600, string(pem.EncodeToMemory(blk))},
		{"etc/ssh/sshd_config.d/swarmrun-lab.conf", 0o644, "# swarmrun lab host, as a cloud image: keys only, no root login\n" +
			"PermitRootLogin no\nPasswordAuthentication no\nUseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\nMaxStartups 200:30:400\nMaxSessions 100\n"},
	}
	for _, f := range files {
		if err := writeInRoot(root, f.path, f.mode, f.data); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return authorizeAdmin(root, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(clientKey))))
}

func writeInRoot(root, path string, mode os.FileMode, data string) error {
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	os.Remove(p) // a symlink in the image (resolv.conf) must not be followed
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// authorizeAdmin installs the lab's client key for the admin user, owned by
// that user's IDs from the image's passwd.
func authorizeAdmin(root, key string) error {
	uid, gid, err := passwdIDs(filepath.Join(root, "etc/passwd"), FreshUser)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "home", FreshUser, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(f, []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	for _, p := range []string{dir, f} {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func passwdIDs(passwd, user string) (int, int, error) {
	b, err := os.ReadFile(passwd)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 3 && f[0] == user {
			uid, _ := strconv.Atoi(f[2])
			gid, _ := strconv.Atoi(f[3])
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("no user %s in %s", user, passwd)
}

// startFresh starts host i's supervisor, detached: it outlives `lab up`.
func (l *Lab) startFresh(i int) error {
	h := &l.Hosts[i]
	hdir := filepath.Join(l.Dir, "hosts", h.Name)
	cfg := freshConfig{Name: h.Name, Machine: h.Netns, Root: filepath.Join(hdir, "root"), Netns: h.Netns, HostDir: hdir}
	cfgPath, self, logf, err := hostFiles(hdir, cfg, "console.log")
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, superviseArg, h.Netns)
	cmd.Env = []string{superviseEnv + "=" + cfgPath, hostPath}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", h.Name, err)
	}
	go cmd.Wait()
	l.mu.Lock()
	h.SetupPID, h.SetupStart = cmd.Process.Pid, procStart(cmd.Process.Pid)
	l.mu.Unlock()
	return l.save()
}

// supervise is a fresh host's "hypervisor": it puts itself into the host's
// own cgroups and boots the host with systemd-nspawn, again after each
// reboot from inside (nspawn exits 133), until the host powers off.
func supervise(cfgPath string) error {
	var c freshConfig
	if err := readJSON(cfgPath, &c); err != nil {
		return err
	}
	if err := joinCgroups(c.Machine); err != nil {
		return err
	}
	for {
		n := readBoots(c.HostDir) + 1
		if err := os.WriteFile(bootsFile(c.HostDir), []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "swarmrun lab: boot %d of %s at %s\n", n, c.Name, time.Now().Format(time.RFC3339))
		cmd := exec.Command("systemd-nspawn", nspawnArgs(c)...)
		cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 133 {
			continue // rebooted from inside
		}
		fmt.Fprintf(os.Stderr, "swarmrun lab: %s stopped (%v)\n", c.Name, err)
		return nil
	}
}

// nspawnArgs: systemd as PID 1 inside the lab's network namespace, with all
// capabilities and the system calls dockerd needs; /var/lib/docker and
// /var/lib/containerd as plain directories (overlay2 does not run on
// overlayfs). Registration is off: the machine's PID 1 is not systemd.
func nspawnArgs(c freshConfig) []string {
	return []string{"-D", c.Root, "-b", "-M", c.Machine, "--hostname=" + c.Name,
		"--register=no", "--keep-unit", "--network-namespace-path=/run/netns/" + c.Netns,
		"--capability=all", "--system-call-filter=add_key keyctl bpf @mount @privileged",
		"--bind=" + filepath.Join(c.HostDir, "docker") + ":/var/lib/docker",
		"--bind=" + filepath.Join(c.HostDir, "containerd") + ":/var/lib/containerd"}
}

// joinCgroups moves this process into a cgroup named name in every
// hierarchy, so that the host's cgroup namespace root is its own subtree
// and `lab down` finds it by name (removeCgroups).
func joinCgroups(name string) error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range roots {
		if !isCgroupMount(r) {
			continue // cpu,cpuacct style links, plain directories
		}
		d := filepath.Join(r, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(r, f)); err == nil {
				os.WriteFile(filepath.Join(d, f), v, 0o644)
			}
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte("0\n"), 0o644); err != nil {
			return fmt.Errorf("join cgroup %s: %w", d, err)
		}
	}
	return nil
}

// isCgroupMount reports whether dir is the root of a cgroup (v1 or v2) mount.
func isCgroupMount(dir string) bool {
	const cgroupMagic, cgroup2Magic = 0x27e0eb, 0x63677270
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return false
	}
	var st, parent syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil || syscall.Statfs(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return (st.Type == cgroupMagic || st.Type == cgroup2Magic) && st.Type != parent.Type
}

func readBoots(hostDir string) int {
	b, _ := os.ReadFile(bootsFile(hostDir))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// freshInit returns the PID of a fresh host's systemd (the child of nspawn,
// the child of the supervisor), 0 if it is not running.
func freshInit(h Host) int {
	if !alive(h.SetupPID, h.SetupStart) {
		return 0
	}
	nspawn := firstChild(h.SetupPID)
	if nspawn == 0 {
		return 0
	}
	return firstChild(nspawn)
}

func firstChild(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// inHost runs a command inside a fresh host's namespaces, as its root.
func inHost(ctx context.Context, h Host, args ...string) (string, error) {
	pid := freshInit(h)
	if pid == 0 {
		return "", fmt.Errorf("%s is not running", h.Name)
	}
	out, err := run(ctx, "", "nsenter", append([]string{"-t", strconv.Itoa(pid), "-a", "--"}, args...)...)
	return strings.TrimSpace(out), err
}

// systemState is `systemctl is-system-running` inside a fresh host.
func systemState(ctx context.Context, h Host) string {
	out, _ := inHost(ctx, h, "systemctl", "is-system-running")
	if out == "" {
		return "down"
	}
	return out
}

// waitFresh waits until host i answers SSH and systemd has finished
// booting (running, or degraded: a failed unit is for the tests to see).
func (l *Lab) waitFresh(ctx context.Context, i int, timeout time.Duration) error {
	h := l.Hosts[i]
	deadline := time.Now().Add(timeout)
	state := "down"
	for {
		if !alive(h.SetupPID, h.SetupStart) {
			return fmt.Errorf("%s: its supervisor exited: %s", h.Name, l.consoleTail(h.Name))
		}
		if sshBanner(h.Addr) == nil {
			if state = systemState(ctx, h); state == "running" || state == "degraded" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not up after %s (system %s): %s", h.Name, timeout, state, l.consoleTail(h.Name))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (l *Lab) consoleTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(l.Dir, "hosts", name, "console.log"))
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return "console.log: " + s
}

// Reboot reboots fresh hosts the way an operator reboots a VM (systemctl
// reboot inside) and waits until each is back: a new boot, SSH answering,
// systemd finished.
func Reboot(ctx context.Context, dir string, names []string) error {
	l, err := Load(dir)
	if err != nil {
		return err
	}
	if !l.Fresh {
		return errors.New("lab reboot: only fresh hosts (lab up --fresh) can reboot")
	}
	var idx []int
	for _, n := range names {
		i := l.hostIndex(n)
		if i < 0 {
			return fmt.Errorf("lab reboot: no host %q in %s", n, dir)
		}
		idx = append(idx, i)
	}
	before := map[int]int{}
	for _, i := range idx {
		h := l.Hosts[i]
		before[i] = readBoots(filepath.Join(l.Dir, "hosts", h.Name))
		if _, err := inHost(ctx, h, "systemctl", "reboot"); err != nil {
			return fmt.Errorf("lab reboot %s: %w", h.Name, err)
		}
	}
	for _, i := range idx {
		hdir := filepath.Join(l.Dir, "hosts", l.Hosts[i].Name)
		for deadline := time.Now().Add(time.Minute); readBoots(hdir) <= before[i]; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("lab reboot %s: no new boot after 1m: %s", l.Hosts[i].Name, l.consoleTail(l.Hosts[i].Name))
			}
		}
		if err := l.waitFresh(ctx, i, 2*time.Minute); err != nil {
			return fmt.Errorf("lab reboot: %w", err)
		}
	}
	return nil
}

func (l *Lab) hostIndex(name string) int {
	for i, h := range l.Hosts {
		if h.Name == name || h.Addr == name {
			return i
		}
	}
	return -1
}
