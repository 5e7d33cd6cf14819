// Package lab runs local test hosts: each host is a network namespace on a
// bridge with its own mount/UTS/PID namespaces, a copy-on-write root
// (overlayfs over the machine's /), sshd and optionally dockerd. The facts it
// relies on are in docs/LAB.md; the CLI is `swarmrun lab`. Fresh hosts
// (fresh.go, fresh_image.go) boot a clean Debian with systemd instead.
package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Options configure Up.
type Options struct {
	Dir      string // lab directory; default DirFromEnv()
	Hosts    int    // number of hosts, default 3
	Managers int    // hosts in the "managers" group, default 1
	Net      int    // K in 198.18.K.0/24 and in every name; default 0
	NoDocker bool   // hosts without dockerd (and no test image)
	Fresh    bool   // fresh hosts: a clean Debian with systemd, no Docker (see fresh.go)
	Distro   string // with Fresh: debian-12 or debian-13 (DefaultDistro)
	Src      string // swarmrun source tree for the test image; default: found from cwd or $SWARMRUN_SRC
	Log      io.Writer
}

// Host is one lab host as recorded in the state file.
type Host struct {
	Name       string `json:"name"`
	Addr       string `json:"addr"`
	Netns      string `json:"netns"`
	Veth       string `json:"veth"`
	PID        int    `json:"pid,omitempty"`         // init, PID 1 of the host's PID namespace
	PIDStart   uint64 `json:"pid_start,omitempty"`   // its start time, against PID reuse
	SetupPID   int    `json:"setup_pid,omitempty"`   // the unshare process holding init
	SetupStart uint64 `json:"setup_start,omitempty"` // its start time
	Manager    bool   `json:"manager"`
}

// Lab is a running lab; it is also the state file's content.
type Lab struct {
	Version   int                 `json:"version"`
	Dir       string              `json:"dir"`
	Net       int                 `json:"net"`
	Docker    bool                `json:"docker"`
	Fresh     bool                `json:"fresh,omitempty"`
	Distro    string              `json:"distro,omitempty"`
	ImageDir  string              `json:"image_dir,omitempty"` // fresh hosts' lower root filesystem
	Bridge    string              `json:"bridge"`
	Chain     string              `json:"chain"`
	Mirrors   map[string][]string `json:"mirrors"`
	MirrorIPs []string            `json:"mirror_ips"`
	Hosts     []Host              `json:"hosts"`
	Image     string              `json:"image,omitempty"` // test image archive, when built
	Phase     string              `json:"phase"`           // how far Up got
	Started   time.Time           `json:"started"`
	ReadyIn   string              `json:"ready_in,omitempty"`

	mu sync.Mutex
}

// Paths of the files Up writes into the lab directory.
func (l *Lab) Inventory() string  { return filepath.Join(l.Dir, "inventory") }
func (l *Lab) KeyFile() string    { return filepath.Join(l.Dir, "id_ed25519") }
func (l *Lab) KnownHosts() string { return filepath.Join(l.Dir, "known_hosts") }
func (l *Lab) StateFile() string  { return stateFile(l.Dir) }

func stateFile(dir string) string { return filepath.Join(dir, "state.json") }

// Host returns the host named name.
func (l *Lab) Host(name string) (Host, bool) {
	for _, h := range l.Hosts {
		if h.Name == name || h.Addr == name {
			return h, true
		}
	}
	return Host{}, false
}

// User is the login user of the lab's hosts: root on clones, the sudo user
// FreshUser on fresh hosts.
func (l *Lab) User() string {
	if l.Fresh {
		return FreshUser
	}
	return "root"
}

// SSHArgs returns the OpenSSH client arguments that log in to h as User().
func (l *Lab) SSHArgs(h Host) []string {
	return []string{"-i", l.KeyFile(), "-o", "UserKnownHostsFile=" + l.KnownHosts(),
		"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR", l.User() + "@" + h.Addr}
}

// save writes the state file atomically; called after every step of Up so a
// crash leaves enough behind for Down.
func (l *Lab) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.StateFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.StateFile())
}

// Load reads a lab's state file.
func Load(dir string) (*Lab, error) {
	l := &Lab{}
	if err := readJSON(stateFile(dir), l); err != nil {
		return nil, err
	}
	l.Dir = dir
	return l, nil
}

// readJSON reads the JSON file p (a lab's state, a host's config) into v.
func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// InstallHint is what a machine without the lab's dependencies needs.
const InstallHint = "apt-get install docker.io openssh-server iptables iproute2 ufw"

// preflight checks the machine can run the lab o asks for.
func preflight(o Options) error {
	if !o.Fresh {
		return Preflight(!o.NoDocker)
	}
	if err := Preflight(false); err != nil {
		return err
	}
	var missing []string
	for _, c := range []string{"systemd-nspawn", "debootstrap"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("fresh hosts need %s, missing here: install them with `apt-get install systemd-container debootstrap`", strings.Join(missing, ", "))
	}
	return nil
}

// Preflight checks the machine can run a lab.
func Preflight(docker bool) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the lab needs Linux (network namespaces, overlayfs); this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (namespaces, mounts, bridge, iptables): run it with sudo")
	}
	var missing []string
	need := map[string]string{"sshd": "/usr/sbin/sshd", "iptables": "", "iptables-save": "", "ip": "", "nsenter": "", "unshare": "", "ssh": ""}
	if docker {
		need["dockerd"] = "/usr/sbin/dockerd"
		need["docker"] = ""
		need["/etc/init.d/docker"] = "/etc/init.d/docker"
	}
	for name, path := range need {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				missing = append(missing, name)
			}
			continue
		}
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sortStrings(missing)
		return fmt.Errorf("the lab needs %s, missing here: install them with `%s`", strings.Join(missing, ", "), InstallHint)
	}
	return nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		o.Dir = DirFromEnv()
	}
	d, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = d
	if o.Hosts == 0 {
		o.Hosts = 3
	}
	if o.Managers == 0 {
		o.Managers = 1
	}
	if o.Src == "" {
		o.Src = os.Getenv("SWARMRUN_SRC")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Fresh && o.Distro == "" {
		o.Distro = DefaultDistro
	}
	if _, ok := Distros[o.Distro]; o.Fresh && !ok {
		return fmt.Errorf("--distro %q: one of debian-12, debian-13", o.Distro)
	}
	switch {
	case o.Hosts < 1 || o.Hosts > 240:
		return fmt.Errorf("--hosts %d: between 1 and 240", o.Hosts)
	case o.Managers < 1 || o.Managers > o.Hosts:
		return fmt.Errorf("--managers %d: between 1 and --hosts (%d)", o.Managers, o.Hosts)
	case o.Net < 0 || o.Net > 255:
		return fmt.Errorf("--net %d: between 0 and 255", o.Net)
	}
	return nil
}

// Up starts a lab and returns when every host answers SSH (and Docker, with
// the test image loaded). On failure it removes what it made.
func Up(ctx context.Context, o Options) (_ *Lab, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := preflight(o); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := claimDir(o); err != nil {
		return nil, err
	}
	l := &Lab{Version: 1, Dir: o.Dir, Net: o.Net, Docker: !o.NoDocker && !o.Fresh, Bridge: bridgeName(o.Net),
		Chain: chainName(o.Net), Started: t0, Phase: "starting", Fresh: o.Fresh, Distro: o.Distro}
	for i := 1; i <= o.Hosts; i++ {
		l.Hosts = append(l.Hosts, Host{Name: hostName(i), Addr: hostAddr(o.Net, i), Netns: netnsName(o.Net, i),
			Veth: vethName(o.Net, i), Manager: i <= o.Managers})
	}
	if err := l.save(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("lab up: %w", err)
			if derr := Down(o.Dir); derr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
			}
		}
	}()

	// The test image builds while the hosts start: it is mostly CPU in `go build`.
	waitImage := l.buildImage(ctx, o)
	clientKey, hostKeys, err := l.writeKeys()
	if err != nil {
		return nil, err
	}
	if err := l.setupNetwork(ctx, o.Log); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "network ready in %.1fs\n", time.Since(t0).Seconds())
	if err := l.startHosts(ctx, clientKey, hostKeys); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "hosts answer SSH%s in %.1fs\n", map[bool]string{true: " and Docker"}[l.Docker], time.Since(t0).Seconds())
	if err := l.loadImage(ctx, waitImage, o.Log); err != nil {
		return nil, err
	}
	if err := l.writeClientFiles(hostKeys); err != nil {
		return nil, err
	}
	l.Phase = "up"
	l.ReadyIn = time.Since(t0).Round(10 * time.Millisecond).String()
	if err := l.save(); err != nil {
		return nil, err
	}
	return l, nil
}

// claimDir makes o.Dir ready for a new lab: the remains of a dead one are
// removed; a live one, or another lab's network, is an error.
func claimDir(o Options) error {
	if old, err := Load(o.Dir); err == nil {
		if old.anyAlive() {
			return fmt.Errorf("a lab is already up in %s (swarmrun lab down --dir %s)", o.Dir, o.Dir)
		}
		// A dead lab (machine rebooted, crash): clear it first.
		fmt.Fprintf(o.Log, "removing the remains of a previous lab in %s\n", o.Dir)
		if err := Down(o.Dir); err != nil {
			return err
		}
	}
	if linkExists(bridgeName(o.Net)) {
		owner := netOwner(o.Net)
		if otherOwner(o.Net, o.Dir) {
			return fmt.Errorf("network %d is used by the lab in %s: pick another --net (or swarmrun lab down --dir %s)", o.Net, owner, owner)
		}
		return fmt.Errorf("network %d has leftovers (bridge %s, owner %q gone): remove them with `swarmrun lab down --dir %s --net %d`",
			o.Net, bridgeName(o.Net), owner, o.Dir, o.Net)
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "hosts"), 0o700); err != nil {
		return err
	}
	return os.Chmod(o.Dir, 0o700)
}

// buildImage builds the test image in the background when the hosts will
// have Docker; the function it returns waits for it.
func (l *Lab) buildImage(ctx context.Context, o Options) (wait func() error) {
	if !(l.Docker || l.Fresh && !o.NoDocker) {
		return func() error { return nil }
	}
	var imgErr error
	var imgWG sync.WaitGroup
	imgWG.Add(1)
	go func() {
		defer imgWG.Done()
		p := filepath.Join(o.Dir, "testweb.tar")
		if imgErr = buildTestImage(ctx, o.Src, p); imgErr == nil {
			l.mu.Lock()
			l.Image = p
			l.mu.Unlock()
		}
	}()
	return func() error {
		imgWG.Wait()
		return imgErr
	}
}

// setupNetwork makes the bridge and the hosts' links (fresh hosts: after
// their root image is there).
func (l *Lab) setupNetwork(ctx context.Context, log io.Writer) (err error) {
	if l.Fresh {
		if l.ImageDir, err = EnsureImage(ctx, l.Distro, log); err != nil {
			return err
		}
	}
	l.Mirrors, l.MirrorIPs = resolveMirrors(ctx)
	if len(l.MirrorIPs) == 0 {
		fmt.Fprintln(log, "warning: the package mirror does not resolve here; apt-get will not work on the hosts")
	}
	l.Phase = "network"
	if err := l.save(); err != nil {
		return err
	}
	if err := setupBridge(ctx, l); err != nil {
		return err
	}
	if err := setupHostLinks(ctx, l); err != nil {
		return err
	}
	l.Phase = "hosts"
	return l.save()
}

// startHosts starts every host and waits until each answers.
func (l *Lab) startHosts(ctx context.Context, clientKey ssh.PublicKey, hostKeys []ed25519.PrivateKey) error {
	etcHosts := l.etcHosts()
	// Host starts are mostly fork/exec and mounts; a few at a time keeps the
	// 2-core machine responsive. dockerd starts in the background of each.
	sem := make(chan struct{}, 8)
	return l.eachHost(func(i int) error {
		sem <- struct{}{}
		var err error
		if l.Fresh {
			if err = l.prepareFresh(i, clientKey, hostKeys[i], etcHosts); err == nil {
				err = l.startFresh(i)
			}
		} else {
			err = l.startHost(ctx, i, clientKey, hostKeys[i], etcHosts)
		}
		<-sem
		if err == nil && l.Fresh {
			err = l.waitFresh(ctx, i, 2*time.Minute+time.Duration(len(l.Hosts))*5*time.Second)
		} else if err == nil {
			err = l.waitHost(ctx, i)
		}
		return err
	})
}

// eachHost runs f for every host at once and joins their errors.
func (l *Lab) eachHost(f func(i int) error) error {
	errs := make([]error, len(l.Hosts))
	var wg sync.WaitGroup
	for i := range l.Hosts {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadImage loads the test image into every clone host's dockerd; fresh
// hosts get it from the playbook (swarm_images), once Docker is installed.
// The lab is still useful without the image.
func (l *Lab) loadImage(ctx context.Context, waitImage func() error, log io.Writer) error {
	if !l.Fresh && !l.Docker {
		return nil
	}
	if err := waitImage(); err != nil {
		fmt.Fprintf(log, "warning: no test image: %v\n", err)
		return nil
	}
	if l.Fresh {
		return nil
	}
	return l.eachHost(func(i int) error {
		if err := dockerLoad(ctx, l.Hosts[i].PID, l.Image); err != nil {
			return fmt.Errorf("%s: %w", l.Hosts[i].Name, err)
		}
		return nil
	})
}

// writeKeys makes the client key pair and one host key per host.
func (l *Lab) writeKeys() (ssh.PublicKey, []ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "swarmrun-lab")
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(l.KeyFile(), pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, nil, err
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(l.KeyFile()+".pub", ssh.MarshalAuthorizedKey(spub), 0o644); err != nil {
		return nil, nil, err
	}
	keys := make([]ed25519.PrivateKey, len(l.Hosts))
	for i := range keys {
		if _, keys[i], err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, nil, err
		}
	}
	return spub, keys, nil
}

func (l *Lab) etcHosts() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\n# swarmrun lab hosts\n")
	for _, h := range l.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.Addr, h.Name)
	}
	fmt.Fprintf(&b, "%s\tlab-machine\n", gatewayAddr(l.Net))
	b.WriteString("\n# package mirror, pinned to what the machine resolves (no DNS in the lab)\n")
	for _, n := range mirrorNames() {
		if ips := l.Mirrors[n]; len(ips) > 0 {
			fmt.Fprintf(&b, "%s\t%s\n", ips[0], n)
		}
	}
	return b.String()
}

// startHost starts host i's init inside its network namespace and fresh
// mount/UTS/PID namespaces and records its PIDs.
func (l *Lab) startHost(ctx context.Context, i int, clientKey ssh.PublicKey, hostKey ed25519.PrivateKey, etcHosts string) error {
	h := &l.Hosts[i]
	hdir := filepath.Join(l.Dir, "hosts", h.Name)
	if err := os.MkdirAll(hdir, 0o700); err != nil {
		return err
	}
	blk, err := ssh.MarshalPrivateKey(hostKey, "root@"+h.Name)
	if err != nil {
		return err
	}
	hide := []string{l.Dir}
	cfg := hostConfig{Name: h.Name, Addr: h.Addr, LabDir: l.Dir, HostDir: hdir,
		HostKey: string(pem.EncodeToMemory(blk)), AuthKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(clientKey))),
		EtcHosts: etcHosts, Docker: l.Docker, CgroupPath: cgroupParent(l.Net, i+1), HideDirs: hide, Mirrors: mirrorNames()}
	cfgPath, self, logf, err := hostFiles(hdir, cfg, "init.log")
	if err != nil {
		return err
	}
	defer logf.Close()
	// nsenter --net, not `ip netns exec`: the latter remounts /sys, which
	// hides the cgroup mounts dockerd needs. --kill-child ties init's life
	// to unshare's.
	cmd := exec.Command("nsenter", "--net=/run/netns/"+h.Netns, "--",
		"unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--propagation", "private", "--", self)
	cmd.Env = []string{initEnv + "=" + cfgPath, hostPath}
	cmd.Stdout, cmd.Stderr = logf, logf // never the caller's pipes: hosts outlive `lab up`
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", h.Name, err)
	}
	setup := cmd.Process.Pid
	// Reap unshare if it ends while we run; afterwards it is the init
	// process's (or a subreaper's) job.
	go cmd.Wait()
	setupStart := procStart(setup)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", setup, setup)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				pid, _ := strconv.Atoi(f[0])
				l.mu.Lock()
				h.SetupPID, h.SetupStart = setup, setupStart
				h.PID, h.PIDStart = pid, procStart(pid)
				l.mu.Unlock()
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: init did not start: %s", h.Name, l.hostLog(h.Name))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return l.save()
}

// hostFiles writes a host process's config.json into hdir and opens its log
// there; it returns them with the path of this binary, which re-executes
// itself as the host's init or supervisor.
func hostFiles(hdir string, cfg any, logName string) (cfgPath, self string, logf *os.File, err error) {
	b, _ := json.Marshal(cfg)
	cfgPath = filepath.Join(hdir, "config.json")
	if err = os.WriteFile(cfgPath, b, 0o600); err != nil {
		return
	}
	if self, err = os.Executable(); err != nil {
		return
	}
	logf, err = os.OpenFile(filepath.Join(hdir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	return
}

// waitHost waits until host i answers SSH and, with Docker, its engine.
func (l *Lab) waitHost(ctx context.Context, i int) error {
	h := l.Hosts[i]
	timeout := 60*time.Second + time.Duration(len(l.Hosts))*time.Second
	deadline := time.Now().Add(timeout)
	sshOK, dockerOK := false, !l.Docker
	for !sshOK || !dockerOK {
		if !alive(h.PID, h.PIDStart) {
			return fmt.Errorf("%s: init exited: %s", h.Name, l.hostLog(h.Name))
		}
		if !sshOK {
			sshOK = sshBanner(h.Addr) == nil
		}
		if !dockerOK && sshOK {
			dockerOK = dockerPing(ctx, h.PID) == nil
		}
		if sshOK && dockerOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s (ssh %v, docker %v): %s", h.Name, timeout, sshOK, dockerOK, l.hostLog(h.Name))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// sshBanner checks that sshd answers on addr:22.
func sshBanner(addr string) error {
	c, err := net.DialTimeout("tcp", addr+":22", time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "SSH-" {
		return fmt.Errorf("%s: not an SSH server", addr)
	}
	return nil
}

// hostLog returns the tail of a host's init log for error messages.
func (l *Lab) hostLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(l.Dir, "hosts", name, "init.log"))
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	if s == "" {
		return "(init.log empty)"
	}
	return "init.log: " + s
}

// writeClientFiles writes known_hosts and the inventory.
func (l *Lab) writeClientFiles(hostKeys []ed25519.PrivateKey) error {
	var kh strings.Builder
	for i, h := range l.Hosts {
		pub, err := ssh.NewPublicKey(hostKeys[i].Public())
		if err != nil {
			return err
		}
		fmt.Fprintf(&kh, "%s %s", h.Addr, ssh.MarshalAuthorizedKey(pub))
	}
	if err := os.WriteFile(l.KnownHosts(), []byte(kh.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(l.Inventory(), []byte(l.inventory()), 0o644)
}

func (l *Lab) inventory() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# swarmrun lab %d (%s), written by `swarmrun lab up`\n", l.Net, l.Dir)
	for _, group := range []bool{true, false} {
		if group {
			b.WriteString("[managers]\n")
		} else {
			b.WriteString("\n[workers]\n")
		}
		for _, h := range l.Hosts {
			if h.Manager == group {
				fmt.Fprintf(&b, "%s ansible_host=%s ansible_user=%s ansible_ssh_private_key_file=%s\n", h.Name, h.Addr, l.User(), l.KeyFile())
			}
		}
	}
	fmt.Fprintf(&b, "\n[all:vars]\nansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\nswarmrun_known_hosts_file=%s\n",
		l.KnownHosts(), l.KnownHosts())
	if l.Fresh {
		// As on a cloud image: a sudo user. Docker is not there yet, so the
		// test image reaches the hosts through the playbook (site.star's
		// swarm_images).
		b.WriteString("ansible_become=true\n")
		if l.Image != "" {
			fmt.Fprintf(&b, "swarm_images=['%s']\n", l.Image)
		}
	}
	return b.String()
}

// procStart returns a process's start time (clock ticks since boot), 0 if
// it does not exist. PID plus start time names a process unambiguously.
func procStart(pid int) uint64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// comm may contain spaces and parentheses: fields start after the last ')'.
	j := strings.LastIndexByte(s, ')')
	if j < 0 {
		return 0
	}
	f := strings.Fields(s[j+1:])
	if len(f) < 20 {
		return 0
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0 // a zombie is gone for our purposes
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// alive reports whether pid is still the process that started at start.
func alive(pid int, start uint64) bool {
	return pid > 0 && start != 0 && procStart(pid) == start
}

func (l *Lab) anyAlive() bool {
	for _, h := range l.Hosts {
		if alive(h.PID, h.PIDStart) || alive(h.SetupPID, h.SetupStart) {
			return true
		}
	}
	return false
}
