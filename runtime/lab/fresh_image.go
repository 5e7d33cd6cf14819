package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Fresh hosts boot a clean Debian root filesystem with systemd as PID 1
// (systemd-nspawn), like a newly created cloud VM: no Docker, no ufw, a sudo
// user "admin", root login refused. The root filesystem is made once per
// distribution with debootstrap and cached; each host runs on an overlay of
// it. docs/LAB.md describes the layout and why.

// Distros maps --distro to the Debian suite debootstrap fetches.
var Distros = map[string]string{"debian-12": "bookworm", "debian-13": "trixie"}

// DefaultDistro is the current Debian stable.
const DefaultDistro = "debian-13"

// ImageCacheDir is where the built root filesystems are kept; `lab down`
// leaves it alone unless --purge.
const ImageCacheDir = "/var/cache/swarmrun/images"

// FreshUser is the login user of fresh hosts (passwordless sudo).
const FreshUser = "admin"

// freshPackages is what a minimal cloud image has beyond minbase.
const freshPackages = "systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates,kmod,procps,sudo,python3-minimal"

// imageDone marks a finished image; a directory without it is rebuilt.
const imageDone = ".swarmrun-image"

// ImagePath returns the cached root filesystem of distro.
func ImagePath(distro string) string { return filepath.Join(ImageCacheDir, distro) }

// EnsureImage returns the root filesystem of distro, building it first if
// the cache has none. Concurrent callers wait for one build (flock).
func EnsureImage(ctx context.Context, distro string, log io.Writer) (string, error) {
	suite, ok := Distros[distro]
	if !ok {
		return "", fmt.Errorf("--distro %q: one of debian-12, debian-13", distro)
	}
	dir := ImagePath(distro)
	if _, err := os.Stat(filepath.Join(dir, imageDone)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(ImageCacheDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, imageDone)); err == nil {
		return dir, nil // built by whoever held the lock
	}
	t0 := time.Now()
	fmt.Fprintf(log, "building the %s root filesystem (debootstrap %s, once; cached in %s)\n", distro, suite, dir)
	build := dir + ".build"
	if err := debootstrap(ctx, suite, build, log); err != nil {
		return "", err
	}
	if err := customizeImage(ctx, build); err != nil {
		return "", fmt.Errorf("prepare %s image: %w", distro, err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(build, dir); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "%s root filesystem ready in %.0fs\n", distro, time.Since(t0).Seconds())
	return dir, nil
}

// debootstrap fetches suite into dir from the machine's own Debian mirror.
// A finished debootstrap is kept across a crash in the later steps.
func debootstrap(ctx context.Context, suite, dir string, log io.Writer) error {
	marker := filepath.Join(dir, ".swarmrun-debootstrap-done")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("fresh hosts need debootstrap and systemd-nspawn: apt-get install debootstrap systemd-container")
	}
	os.RemoveAll(dir)
	args := []string{"--variant=minbase", "--include=" + freshPackages, suite, dir, machineMirror()}
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := string(out)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("debootstrap %s: %w\n%s", strings.Join(args, " "), err, tail)
	}
	return os.WriteFile(marker, nil, 0o644)
}

// machineMirror is the Debian URI of the machine's own apt sources (the one
// mirror the lab can reach), else deb.debian.org.
func machineMirror() string {
	for _, f := range aptSourceFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if strings.HasPrefix(field, "http") && strings.HasSuffix(strings.TrimSuffix(field, "/"), "debian.org/debian") {
				return field
			}
		}
	}
	return "http://deb.debian.org/debian"
}

// customizeImage turns a debootstrap tree into what a cloud image looks
// like: the admin user with passwordless sudo, no host keys (each host gets
// its own), no root password, and the lab's cgroup unit (see cgroupScript).
func customizeImage(ctx context.Context, root string) error {
	if _, err := run(ctx, "", "chroot", root, "sh", "-c",
		"id -u "+FreshUser+" >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo "+FreshUser); err != nil {
		return err
	}
	for _, k := range []string{"rsa", "ecdsa", "ed25519"} {
		os.Remove(filepath.Join(root, "etc/ssh/ssh_host_"+k+"_key"))
		os.Remove(filepath.Join(root, "etc/ssh/ssh_host_"+k+"_key.pub"))
	}
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"etc/sudoers.d/90-cloud-users", 0o440, "# as cloud images set it up\n" + FreshUser + " ALL=(ALL) NOPASSWD:ALL\n"},
		{"usr/local/sbin/swarmrun-lab-cgroups", 0o755, cgroupScript},
		{"etc/systemd/system/swarmrun-lab-cgroups.service", 0o644, cgroupUnit},
		{"etc/machine-id", 0o444, ""},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	wants := filepath.Join(root, "etc/systemd/system/sysinit.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return err
	}
	link := filepath.Join(wants, "swarmrun-lab-cgroups.service")
	os.Remove(link)
	if err := os.Symlink("/etc/systemd/system/swarmrun-lab-cgroups.service", link); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, imageDone), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// cgroupScript: systemd-nspawn mounts the cgroup v1 controllers read-only
// inside the container, and every Docker task then fails ("mkdir
// /sys/fs/cgroup/cpuset/docker/...: read-only file system"). Mounting each
// controller again inside the host's cgroup namespace makes its own subtree
// writable (a plain remount fails with "busy"). A lab artefact: real VMs do
// not need it.
const cgroupScript = `#!/bin/sh
# swarmrun lab: make the cgroup v1 controllers writable inside this host.
for d in /sys/fs/cgroup/*; do
  c=${d##*/}
  grep -q " $d cgroup ro," /proc/mounts || continue
  [ "$c" = systemd ] && continue
  opts=$c
  case $c in cpu|cpuacct|net_cls|net_prio) [ -L "$d" ] && continue ;; esac
  umount "$d" && mount -t cgroup -o "$opts" cgroup "$d"
done
exit 0
`

const cgroupUnit = `[Unit]
Description=swarmrun lab: writable cgroup controllers for containers
DefaultDependencies=no
Before=sysinit.target containerd.service docker.service
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/swarmrun-lab-cgroups
`
