package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// initEnv names the environment variable that turns any binary importing this
// package into a lab host's init (PID 1 of the host's PID namespace). The
// re-exec trick (as in docker's pkg/reexec) lets both the swarmrun binary and
// test binaries start hosts without a separate helper executable.
const initEnv = "SWARMRUN_LAB_INIT"

func init() {
	if cfg := os.Getenv(superviseEnv); cfg != "" {
		os.Unsetenv(superviseEnv)
		if err := supervise(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "lab supervisor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	cfgPath := os.Getenv(initEnv)
	if cfgPath == "" {
		return
	}
	// Children (sshd, dockerd, login shells) must not inherit the trigger.
	os.Unsetenv(initEnv)
	if err := hostInit(cfgPath); err != nil {
		fmt.Fprintln(os.Stderr, "lab init:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// hostConfig is what `lab up` hands to a host's init, as a JSON file.
type hostConfig struct {
	Name       string   `json:"name"`
	Addr       string   `json:"addr"`
	LabDir     string   `json:"lab_dir"`
	HostDir    string   `json:"host_dir"`
	HostKey    string   `json:"host_key"`    // PEM private host key
	AuthKey    string   `json:"auth_key"`    // authorized_keys line for root
	EtcHosts   string   `json:"etc_hosts"`   // full /etc/hosts content
	Docker     bool     `json:"docker"`      // start dockerd via /etc/init.d/docker
	CgroupPath string   `json:"cgroup_path"` // dockerd --cgroup-parent
	HideDirs   []string `json:"hide_dirs"`   // machine paths masked inside the host
	Mirrors    []string `json:"mirrors"`     // apt hosts the lab can reach
}

const hostPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func hostInit(cfgPath string) error {
	var c hostConfig
	if err := readJSON(cfgPath, &c); err != nil {
		return err
	}
	root := filepath.Join(c.HostDir, "root")
	if err := setupRoot(&c, root); err != nil {
		return err
	}
	if err := writeHostFiles(&c); err != nil {
		return err
	}
	env := []string{hostPath, "HOME=/root", "LANG=C.UTF-8", "TERM=dumb"}

	// sshd in the foreground as our child: we reap it and its log goes to
	// the host's init.log (stderr) for debugging.
	sshd := exec.Command("/usr/sbin/sshd", "-D", "-e")
	sshd.Env = env
	sshd.Stdout, sshd.Stderr = os.Stderr, os.Stderr
	if err := sshd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	if c.Docker {
		// Start dockerd the way the host's init system would, so that
		// `service docker restart` on the host behaves the same later.
		svc := exec.Command("/usr/sbin/service", "docker", "start")
		svc.Env = env
		svc.Stdout, svc.Stderr = os.Stderr, os.Stderr
		if err := svc.Run(); err != nil {
			return fmt.Errorf("service docker start: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "lab init: %s up at %s\n", c.Name, time.Now().Format(time.RFC3339Nano))

	// As PID 1 we reap every orphan in the namespace. SIGTERM/SIGINT end the
	// host: when PID 1 exits, the kernel kills everything in the namespace.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
		if s := <-sigs; s != syscall.SIGCHLD {
			return nil
		}
	}
}

// setupRoot builds the host's copy-on-write root and pivots into it. We are
// already in fresh mount, UTS and PID namespaces (unshare) and in the host's
// network namespace (nsenter).
func setupRoot(c *hostConfig, root string) error {
	if err := syscall.Sethostname([]byte(c.Name)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	// Nothing we mount may propagate back to the machine.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := overlayRoot(c, root); err != nil {
		return err
	}
	if err := mountSystem(c, root); err != nil {
		return err
	}
	return pivotInto(root)
}

// must adds what failed to err, if any.
func must(err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// overlayRoot mounts the host's copy-on-write root at root: the machine's
// root filesystem below, the host's own directory above.
func overlayRoot(c *hostConfig, root string) error {
	upper, work := filepath.Join(c.HostDir, "upper"), filepath.Join(c.HostDir, "work")
	for _, d := range []string{upper, work, root, filepath.Join(c.HostDir, "docker"), filepath.Join(c.HostDir, "containerd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// /root starts empty (as on a fresh host), not with the machine's
	// dotfiles, tool chains and credentials: an opaque directory in the
	// upper layer hides the lower one. Setting it before mounting is allowed.
	home := filepath.Join(upper, "root")
	if _, err := os.Stat(home); os.IsNotExist(err) {
		if err := os.Mkdir(home, 0o700); err != nil {
			return err
		}
		if err := syscall.Setxattr(home, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return must(err, "make /root opaque")
		}
	}
	// Only the machine's root filesystem is the lower layer (submounts are
	// not included), which is what we want: /proc, /sys, /dev, /run, /tmp
	// are mounted fresh below.
	opts := "lowerdir=/,upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return must(err, "mount overlay on "+root)
	}
	return nil
}

// mountSystem mounts /proc, /sys, /dev, /run, /tmp and Docker's directories
// in the new root, and masks the machine paths the host must not see.
func mountSystem(c *hostConfig, root string) error {
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "proc", "proc", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, ""},
		{"/sys", "sys", "", syscall.MS_BIND | syscall.MS_REC, ""},
		{"/dev", "dev", "", syscall.MS_BIND | syscall.MS_REC, ""},
		// A private /dev/shm and pty instance instead of the machine's.
		{"shm", "dev/shm", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777"},
		{"devpts", "dev/pts", "devpts", syscall.MS_NOSUID | syscall.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"dev/pts/ptmx", "dev/ptmx", "", syscall.MS_BIND, ""},
		{"tmpfs", "run", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=0755"},
		{"tmpfs", "tmp", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777"},
		// overlay2 does not run on top of overlayfs: plain directories.
		{filepath.Join(c.HostDir, "docker"), "var/lib/docker", "", syscall.MS_BIND, ""},
		{filepath.Join(c.HostDir, "containerd"), "var/lib/containerd", "", syscall.MS_BIND, ""},
	}
	for _, m := range mounts {
		dst := filepath.Join(root, m.dst)
		src := m.src
		if m.fstype == "" && !filepath.IsAbs(src) {
			src = filepath.Join(root, src) // bind within the new root
		}
		if fi, err := os.Stat(src); m.fstype != "" || err != nil || fi.IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		}
		if err := syscall.Mount(src, dst, m.fstype, m.flags, m.data); err != nil {
			return must(err, "mount "+m.dst)
		}
	}
	// Mask the lab directory (other hosts' files, the private key) and any
	// other machine paths the caller lists. Directories below /tmp and /run
	// are already hidden by the fresh tmpfs mounts.
	for _, d := range c.HideDirs {
		dst := filepath.Join(root, d)
		if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
			continue
		}
		if err := syscall.Mount("tmpfs", dst, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0700,size=1m"); err != nil {
			return must(err, "mask "+d)
		}
	}
	return nil
}

// pivotInto makes root the root of this mount namespace.
func pivotInto(root string) error {
	// pivot_root, not chroot: with a chrooted dockerd `docker exec` (and so
	// every CMD healthcheck) fails. pivot_root(".", ".") stacks the old root
	// under the new one; the lazy unmount then drops it.
	if err := syscall.Chdir(root); err != nil {
		return must(err, "chdir")
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return must(err, "pivot_root")
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return must(err, "unmount old root")
	}
	return must(syscall.Chdir("/"), "chdir /")
}

// writeHostFiles gives the host its own identity; the writes land in the
// host's overlay upper layer only.
func writeHostFiles(c *hostConfig) error {
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"/etc/hostname", 0o644, c.Name + "\n"},
		{"/etc/hosts", 0o644, c.EtcHosts},
		// Lab hosts have no DNS; the mirror's names are pinned in /etc/hosts.
		// A resolv.conf without nameservers makes other lookups fail fast.
		{"/etc/resolv.conf", 0o644, "# swarmrun lab host: no DNS, see /etc/hosts\noptions timeout:1 attempts:1\n"},
		{"/etc/ssh/ssh_host_ed25519_key", 0o600, c.HostKey},
		{"/etc/ssh/sshd_config.d/swarmrun-lab.conf", 0o644, "# swarmrun lab host\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\nMaxStartups 200:30:400\nMaxSessions 100\n"},
		{"/root/.ssh/authorized_keys", 0o600, c.AuthKey + "\n"},
		{"/run/sshd/.keep", 0o644, ""},
	}
	// The machine's own host keys would otherwise be shared by every host.
	for _, t := range []string{"rsa", "ecdsa", "ed25519"} {
		for _, suf := range []string{"", ".pub"} {
			os.Remove("/etc/ssh/ssh_host_" + t + "_key" + suf)
		}
	}
	if c.Docker {
		files = append(files, struct {
			path string
			mode os.FileMode
			data string
		}{"/etc/default/docker", 0o644,
			"# swarmrun lab host: a cgroup parent per host so `lab down` can remove\n" +
				"# the cgroups of containers killed with their engine.\n" +
				"DOCKER_OPTS=\"--cgroup-parent=/" + c.CgroupPath + "\"\n"})
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			return err
		}
	}
	// A host of its own has its own machine id.
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	if err := os.WriteFile("/etc/machine-id", []byte(hex.EncodeToString(id)+"\n"), 0o444); err != nil {
		return err
	}
	if err := restrictAptSources(c.Mirrors); err != nil {
		return err
	}
	for _, f := range []string{".bashrc", ".profile"} {
		if b, err := os.ReadFile("/etc/skel/" + f); err == nil {
			if err := os.WriteFile("/root/"+f, b, 0o644); err != nil {
				return err
			}
		}
	}
	if err := os.Chmod("/root/.ssh", 0o700); err != nil {
		return err
	}
	if c.Docker {
		return patchDockerInit("/etc/init.d/docker")
	}
	return nil
}

// patchDockerInit makes Debian's init script survive the lab machine's
// limits: `ulimit -n 1048576` is above the hard nofile limit (20000 there) and
// raising the process limit is not permitted either; each failure would abort
// the script (and so `service docker start|restart`).
func patchDockerInit(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("docker init script: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	changed := false
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "ulimit ") || strings.Contains(t, "||") {
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		fallback := "true"
		if strings.HasPrefix(t, "ulimit -n ") {
			fallback = `ulimit -n "$(ulimit -Hn)"`
		}
		lines[i] = indent + t + " 2>/dev/null || " + fallback + " # swarmrun lab: lower hard limits here"
		changed = true
	}
	if !changed {
		return nil
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o755)
}

// restrictAptSources disables, in the host's copy, apt sources the lab cannot
// reach (the machine may use third-party repositories; lab hosts have no DNS
// and reach only the Debian mirror), so `apt-get update` succeeds there as on
// a fresh Debian host.
func restrictAptSources(mirrors []string) error {
	ok := map[string]bool{}
	for _, m := range mirrors {
		ok[m] = true
	}
	reachable := func(text string) bool {
		for _, h := range uriHosts(text) {
			if !ok[h] {
				return false
			}
		}
		return true
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil || reachable(string(b)) {
			continue
		}
		if err := os.Rename(f, f+".disabled-by-swarmrun-lab"); err != nil {
			return err
		}
	}
	const main = "/etc/apt/sources.list"
	b, err := os.ReadFile(main)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	changed := false
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && !reachable(t) {
			lines[i] = "# disabled by swarmrun lab (unreachable from lab hosts): " + line
			changed = true
		}
	}
	if changed {
		return os.WriteFile(main, []byte(strings.Join(lines, "\n")), 0o644)
	}
	return nil
}
