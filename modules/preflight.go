package modules

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

func init() {
	Register(&Module{
		Name: "preflight",
		Doc: `Check that hosts can form a Docker Swarm, before forming it; changes nothing.
Three actions, run in this order over the same hosts (playbooks/lib/preflight.star
does it and prints the matrix):
  action = "listen"  starts a short-lived listener on each host (perl, from
                     perl-base, which Debian and Ubuntu always have): it accepts
                     TCP on 2377 and 7946 where nothing else holds them (a port
                     dockerd holds is probed as it is), and answers UDP and ESP
                     probes from raw sockets, so UDP ports held by dockerd or the
                     kernel's VXLAN socket are checked too. It exits after
                     listen_seconds or at action = "stop".
  action = "check"   from this host to every other peer: 2377/tcp (to managers),
                     7946/tcp, 7946/udp, 4789/udp; with esp = True an IP protocol
                     50 probe; and a UDP packet of overlay_mtu + 50 bytes with the
                     don't-fragment bit (VXLAN adds 50 bytes). On this host:
                     clock skew against the controller, the kernel features
                     (overlay, bridge netfilter, vxlan: required; IPVS for the
                     routing mesh and esp4 for encrypted overlays: warnings),
                     the Docker version when installed, memory, CPUs and disk
                     under /var/lib/docker against minimums (warnings).
  action = "stop"    ends this host's listener.
Raw sockets need root (become). A failed check fails the host unless
strict = False; the outputs carry every check for a matrix either way.

    preflight(all, action = "listen")
    r = preflight(all, peers = [{"name": h.name, "address": h.address,
                                 "manager": h.name in managers.names} for h in all])
    preflight(all, action = "stop")`,
		Params: []Param{
			{Name: "action", Type: String, Default: "check", Choices: []string{"listen", "check", "stop"}, Doc: "listen: start the probe listener; check: run the checks; stop: end the listener"},
			{Name: "peers", Type: List, Doc: `the cluster's nodes (check): dicts {"name", "address", "manager": bool}; the host itself is skipped`},
			{Name: "esp", Type: Bool, Default: false, Doc: "also check IP protocol 50 (ESP) between the nodes: needed by encrypted overlay networks"},
			{Name: "overlay_mtu", Type: Int, Default: int64(1450), Doc: "MTU of the overlay networks: packets of overlay_mtu + 50 bytes must cross between nodes unfragmented; 0 skips the check"},
			{Name: "max_clock_skew", Type: Float, Default: 2.0, Doc: "seconds a host's clock may differ from the controller's"},
			{Name: "probe_timeout", Type: Int, Default: int64(2), Doc: "seconds to wait for each probe's answer"},
			{Name: "listen_seconds", Type: Int, Default: int64(300), Doc: "the listener exits on its own after this long (listen)"},
			{Name: "min_memory_mb", Type: Int, Default: int64(2048), Doc: "warn below this much memory"},
			{Name: "min_cpus", Type: Int, Default: int64(2), Doc: "warn below this many CPUs"},
			{Name: "min_disk_gb", Type: Int, Default: int64(20), Doc: "warn below this much free space under /var/lib/docker"},
			{Name: "strict", Type: Bool, Default: true, Doc: "fail the host when a check fails (False: report in the outputs only)"},
		},
		Outputs: map[string]string{
			"hostname":       "the host's kernel hostname",
			"clock_skew":     "seconds this host's clock is ahead of the controller's (negative: behind)",
			"docker_version": "dockerd's version, \"\" when not installed",
			"kernel":         "dict feature -> available: overlay, br_netfilter, vxlan, ipvs, esp4",
			"checks":         `list of {"from", "to", "check", "ok", "detail"}: one per probe`,
			"failures":       "list of failed checks, as text",
			"warnings":       "list of warnings, as text",
		},
		Run: runPreflight,
	})
}

const (
	preflightPidFile   = "/run/swarmrun-preflight.pid"
	preflightReadyFile = "/run/swarmrun-preflight.ready"
)

func runPreflight(ctx context.Context, t *Target, p Params) (*Result, error) {
	switch p.String("action") {
	case "listen":
		return preflightListen(ctx, t, p)
	case "stop":
		_, err := Sh(ctx, t, preflightStopScript)
		if err != nil {
			return nil, fmt.Errorf("preflight: stopping the listener: %w", err)
		}
		return NewPlan("preflight", "listener stopped").Apply(ctx, t, nil)
	}
	return preflightCheck(ctx, t, p)
}

// preflightStopScript ends the listener named in the pid file, if that pid
// still is the listener (a reused pid is left alone).
const preflightStopScript = `pf=` + preflightPidFile + `
if [ -f "$pf" ]; then
  pid=$(cat "$pf")
  case "$pid" in *[!0-9]*|'') ;; *)
    grep -q swarmrun-preflight "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null ;;
  esac
  rm -f "$pf" ` + preflightReadyFile + `
fi
true`

func preflightListen(ctx context.Context, t *Target, p Params) (*Result, error) {
	esp := "0"
	if p.Bool("esp") {
		esp = "1"
	}
	script := preflightStopScript + `
command -v perl >/dev/null 2>&1 || { echo "perl is not installed (Debian's perl-base is)" >&2; exit 3; }
nohup perl -e ` + Quote(preflightListener) + ` ` + strconv.FormatInt(p.Int("listen_seconds"), 10) + ` 2377,7946 ` + esp + ` ` + preflightReadyFile + ` </dev/null >/dev/null 2>/run/swarmrun-preflight.err &
pid=$!; echo $pid > ` + preflightPidFile + `
i=0
while [ $i -lt 100 ] && [ ! -s ` + preflightReadyFile + ` ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i+1)); done
if [ -s ` + preflightReadyFile + ` ]; then cat ` + preflightReadyFile + `; else cat /run/swarmrun-preflight.err >&2; exit 4; fi`
	out, err := Sh(ctx, t, script)
	if err != nil {
		return nil, fmt.Errorf("preflight: starting the listener on %s (raw sockets need root: become = True): %w", t.Name, err)
	}
	msg := "listening on 2377/tcp, 7946/tcp and raw udp"
	if esp == "1" {
		msg += "+esp"
	}
	if held := strings.TrimPrefix(strings.TrimSpace(out), "ready held="); held != "" && held != strings.TrimSpace(out) {
		msg += "; tcp " + held + " already held (probed as is)"
	}
	// The listener is a probe, not a change to the host: an empty plan.
	return NewPlan("preflight", msg).Apply(ctx, t, nil)
}

// preflightPeer is one entry of the peers parameter.
type preflightPeer struct {
	Name, Address string
	Manager       bool
}

func preflightPeers(raw []any) ([]preflightPeer, error) {
	var out []preflightPeer
	for i, x := range raw {
		d, err := dictItem(x, fmt.Sprintf("peers[%d]", i))
		if err != nil {
			return nil, fmt.Errorf("preflight: %w", err)
		}
		pe := preflightPeer{Name: hpScalar(d["name"]), Address: hpScalar(d["address"])}
		pe.Manager, _ = d["manager"].(bool)
		if pe.Name == "" || pe.Address == "" || strings.ContainsAny(pe.Name+pe.Address, ", \t\n'\"") {
			return nil, fmt.Errorf("preflight: peers[%d]: want a name and an address without spaces or commas, got %q %q", i, pe.Name, pe.Address)
		}
		out = append(out, pe)
	}
	return out, nil
}

// preflightCheckArgs are the prober's arguments for the peers other than t.
func preflightCheckArgs(t *Target, peers []preflightPeer, p Params) []string {
	esp := "0"
	if p.Bool("esp") {
		esp = "1"
	}
	mtu := int64(0)
	if p.Int("overlay_mtu") > 0 {
		mtu = p.Int("overlay_mtu") + 50
	}
	args := []string{strconv.FormatInt(p.Int("probe_timeout"), 10), strconv.FormatInt(mtu, 10), esp}
	for _, pe := range peers {
		if pe.Name == t.Name {
			continue
		}
		tcp := "7946"
		if pe.Manager {
			tcp = "2377+7946"
		}
		args = append(args, pe.Name+","+pe.Address+","+tcp+",7946+4789")
	}
	return args
}

// preflightLocal is the script gathering this host's own facts, in sections.
const preflightLocal = `export LC_ALL=C
cfg() { { zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } | grep -q "^$1=[ym]"; }
mod() { [ -d "/sys/module/$1" ] || grep -q "^$1 " /proc/modules 2>/dev/null || modinfo "$1" >/dev/null 2>&1 || cfg "$2"; }
yn() { if "$@"; then echo yes; else echo no; fi; }
` + `printf '%s\n' "` + hpMarker + ` date"; date +%s.%N
printf '%s\n' "` + hpMarker + ` hostname"; cat /proc/sys/kernel/hostname
printf '%s\n' "` + hpMarker + ` mem"; grep MemTotal /proc/meminfo
printf '%s\n' "` + hpMarker + ` cpus"; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc
printf '%s\n' "` + hpMarker + ` disk"; for d in /var/lib/docker /var/lib /; do [ -d $d ] && { df -Pk $d | tail -1; break; }; done
printf '%s\n' "` + hpMarker + ` docker"; dockerd --version 2>/dev/null
printf '%s\n' "` + hpMarker + ` kernel"
echo overlay $( yn eval 'grep -qw overlay /proc/filesystems || mod overlay CONFIG_OVERLAY_FS' )
echo br_netfilter $( yn eval '[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || mod br_netfilter CONFIG_BRIDGE_NETFILTER' )
echo vxlan $( yn mod vxlan CONFIG_VXLAN )
echo ipvs $( yn eval '[ -e /proc/net/ip_vs ] || mod ip_vs CONFIG_IP_VS' )
echo esp4 $( yn mod esp4 CONFIG_INET_ESP )
printf '%s\n' "` + hpMarker + ` perl"; command -v perl
true`

// preflightFacts are this host's own findings.
type preflightFacts struct {
	hostname, docker string
	perl             bool
	skew             float64
	kernel           map[string]bool
	failures, warns  []string
}

func preflightLocalFacts(ctx context.Context, t *Target, p Params) (*preflightFacts, error) {
	t0 := time.Now()
	out, err := Sh(ctx, t, preflightLocal)
	t1 := time.Now()
	if err != nil {
		return nil, fmt.Errorf("preflight: reading %s's facts: %w", t.Name, err)
	}
	sec := hpSections(out)
	f := &preflightFacts{hostname: strings.TrimSpace(sec["hostname"]), kernel: map[string]bool{}}
	if f.perl = strings.TrimSpace(sec["perl"]) != ""; !f.perl {
		f.failures = append(f.failures, t.Name+": perl is not installed (Debian/Ubuntu's perl-base is): the port checks need it")
	}
	if remote, err := strconv.ParseFloat(strings.TrimSpace(sec["date"]), 64); err == nil {
		mid := float64(t0.UnixNano()+t1.UnixNano()) / 2e9
		f.skew = math.Round((remote-mid)*1000) / 1000
		slack := t1.Sub(t0).Seconds() / 2 // the round trip bounds what we can tell
		if max := preflightFloat(p["max_clock_skew"]); math.Abs(f.skew)-slack > max {
			f.failures = append(f.failures, fmt.Sprintf("%s: clock is %+.1fs off the controller's (max %gs): run NTP (chrony, systemd-timesyncd)", t.Name, f.skew, max))
		}
	}
	for _, l := range strings.Split(sec["kernel"], "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			f.kernel[k] = v == "yes"
		}
	}
	f.failures = append(f.failures, preflightKernel(t.Name, f.kernel, p.Bool("esp"), &f.warns)...)
	if m := regexp.MustCompile(`version (\d+)\.(\d+)[.\d]*\S*`).FindStringSubmatch(sec["docker"]); m != nil {
		f.docker = strings.TrimSuffix(strings.Fields(m[0])[1], ",")
		if major, _ := strconv.Atoi(m[1]); major < 20 {
			f.warns = append(f.warns, fmt.Sprintf("%s: Docker %s is old: swarmrun is tested with 20.10 and later", t.Name, f.docker))
		}
	}
	f.warns = append(f.warns, preflightResources(t.Name, sec, p)...)
	return f, nil
}

// preflightKernel turns the kernel features into failures and warnings.
func preflightKernel(host string, k map[string]bool, esp bool, warns *[]string) []string {
	var fails []string
	for _, need := range []struct{ name, why string }{
		{"overlay", "the overlay filesystem (Docker's overlay2 storage)"},
		{"br_netfilter", "bridge netfilter (net.bridge.bridge-nf-call-iptables)"},
		{"vxlan", "VXLAN (overlay networks)"},
	} {
		if !k[need.name] {
			fails = append(fails, fmt.Sprintf("%s: kernel lacks %s: neither loaded, built in, nor available as a module", host, need.why))
		}
	}
	if !k["ipvs"] {
		*warns = append(*warns, host+": no IPVS in the kernel: the routing mesh (ingress-published ports) will not answer; publish with mode: host")
	}
	if esp && !k["esp4"] {
		*warns = append(*warns, host+": no ESP (esp4) in the kernel: encrypted overlay networks are created but carry no traffic")
	}
	return fails
}

// preflightResources warns about memory, CPUs and disk below the minimums.
func preflightResources(host string, sec map[string]string, p Params) []string {
	var warns []string
	if f := strings.Fields(sec["mem"]); len(f) >= 2 {
		if kb, _ := strconv.ParseInt(f[1], 10, 64); kb/1024 < p.Int("min_memory_mb") {
			warns = append(warns, fmt.Sprintf("%s: %d MB of memory, below %d MB", host, kb/1024, p.Int("min_memory_mb")))
		}
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(sec["cpus"]), 10, 64); err == nil && n < p.Int("min_cpus") {
		warns = append(warns, fmt.Sprintf("%s: %d CPU(s), below %d", host, n, p.Int("min_cpus")))
	}
	if f := strings.Fields(sec["disk"]); len(f) >= 6 {
		if kb, _ := strconv.ParseInt(f[3], 10, 64); kb/(1<<20) < p.Int("min_disk_gb") {
			warns = append(warns, fmt.Sprintf("%s: %d GB free on %s, below %d GB", host, kb/(1<<20), f[5], p.Int("min_disk_gb")))
		}
	}
	return warns
}

// preflightOrder orders a peer's checks the way the matrix shows them.
var preflightOrder = map[string]int{"2377/tcp": 1, "7946/tcp": 2, "7946/udp": 3, "4789/udp": 4, "mtu": 5, "esp": 6}

// preflightParse reads the prober's R lines (peers are probed in parallel:
// any order) into check dicts and failures, sorted by peer and check.
func preflightParse(from, out string) (checks []any, failures []string) {
	lines := strings.Split(out, "\n")
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := strings.Split(lines[i], "\t"), strings.Split(lines[j], "\t")
		if len(a) < 3 || len(b) < 3 || a[1] != b[1] {
			return len(a) >= 3 && len(b) >= 3 && a[1] < b[1]
		}
		return preflightOrder[a[2]] < preflightOrder[b[2]]
	})
	for _, l := range lines {
		f := strings.SplitN(l, "\t", 5)
		if len(f) != 5 || f[0] != "R" {
			continue
		}
		ok := f[3] == "ok"
		checks = append(checks, map[string]any{"from": from, "to": f[1], "check": f[2], "ok": ok, "detail": f[4]})
		if !ok {
			failures = append(failures, fmt.Sprintf("%s -> %s %s: %s", from, f[1], f[2], f[4]))
		}
	}
	return checks, failures
}

func preflightCheck(ctx context.Context, t *Target, p Params) (*Result, error) {
	peers, err := preflightPeers(p.List("peers"))
	if err != nil {
		return nil, err
	}
	f, err := preflightLocalFacts(ctx, t, p)
	if err != nil {
		return nil, err
	}
	failures, checks := f.failures, []any{}
	args := preflightCheckArgs(t, peers, p)
	if len(args) > 3 && f.perl {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = Quote(a)
		}
		out, err := Sh(ctx, t, "perl -e "+Quote(preflightProber)+" "+strings.Join(quoted, " "))
		if err != nil {
			return nil, fmt.Errorf("preflight: probing the peers from %s: %w", t.Name, err)
		}
		var fails []string
		checks, fails = preflightParse(t.Name, out)
		failures = append(failures, fails...)
	}
	warns := append([]string{}, f.warns...)
	sort.Strings(warns)
	res := &Result{Outputs: map[string]any{
		"hostname": f.hostname, "clock_skew": f.skew, "docker_version": f.docker,
		"kernel": preflightAnyMap(f.kernel), "checks": checks,
		"failures": preflightAnyList(failures), "warnings": preflightAnyList(warns),
	}}
	// Read-only: an empty plan; the gate words the result.
	plan := NewPlan("preflight", fmt.Sprintf("%d of %d peer checks passed", len(checks)-preflightFailedChecks(checks), len(checks)))
	if len(failures) > 0 {
		plan.Unchanged = "FAILED: " + strings.Join(failures, "; ")
	}
	if len(warns) > 0 {
		plan.Note("warnings: " + strings.Join(warns, "; "))
	}
	if len(failures) > 0 && p.Bool("strict") {
		return nil, plan.Errorf("%s", plan.message(t.Check))
	}
	return plan.Apply(ctx, t, res)
}

func preflightFailedChecks(checks []any) int {
	n := 0
	for _, c := range checks {
		if !c.(map[string]any)["ok"].(bool) {
			n++
		}
	}
	return n
}

func preflightAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func preflightAnyMap(m map[string]bool) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func preflightFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}

// The perl programs the preflight module runs on the hosts. perl-base is
// Essential on Debian and Ubuntu (always installed), so no agent is needed;
// its core Socket and IO::Socket modules can listen on TCP and open raw IP
// sockets, which bash and sh cannot.
//
// Wire format: a probe carries "SRPF1 <nonce>", the answer "SRPF1-ACK <nonce>".
//
// UDP and ESP are answered from raw sockets: the kernel hands a raw socket a
// copy of every datagram of its protocol that passed the INPUT chain, also
// when the port is held by another program (dockerd's 7946, the kernel's
// VXLAN socket on 4789). The answer goes back from the probed port to the
// prober's port, so the prober's firewall sees it as the reply of the
// prober's own flow (conntrack ESTABLISHED).

// preflightListener: ARGV = lifetime seconds, comma list of TCP ports, esp
// (0/1), ready file. It writes "ready held=PORTS" to the ready file once all
// its sockets are open, then answers probes until the lifetime ends.
const preflightListener = `use strict; use Socket; use IO::Socket::INET; use IO::Select;
$0 = "swarmrun-preflight-listener";
my ($life, $tcp, $esp, $ready) = @ARGV;
my $sel = IO::Select->new; my (%lst, @held);
for my $p (grep { length } split /,/, $tcp) {
  my $s = IO::Socket::INET->new(LocalPort => $p, Proto => 'tcp', Listen => 64, ReuseAddr => 1);
  if ($s) { $lst{fileno $s} = $s; $sel->add($s) } else { push @held, $p }
}
socket(my $ru, PF_INET, SOCK_RAW, 17) or die "raw udp socket: $!\n";
$sel->add($ru);
my $re;
if ($esp) { socket($re, PF_INET, SOCK_RAW, 50) or die "raw esp socket: $!\n"; $sel->add($re) }
open(my $rf, '>', $ready) or die "$ready: $!\n"; print $rf "ready held=", join(',', @held), "\n"; close $rf;
my $end = time + $life;
while (time < $end) {
  for my $s ($sel->can_read(1)) {
    if ($lst{fileno $s}) { my $c = $s->accept; close $c if $c; next }
    recv($s, my $buf, 65535, 0);
    next if length($buf) < 28;
    my $ihl = (ord(substr($buf, 0, 1)) & 15) * 4;
    my $src = substr($buf, 12, 4);
    my $body = substr($buf, $ihl);
    next unless substr($body, 8) =~ /^SRPF1 (\S+)/;
    my $ack = "SRPF1-ACK $1";
    if ($s == $ru) {
      my ($sp, $dp) = unpack('nn', $body);
      send($ru, pack('nnnn', $dp, $sp, 8 + length $ack, 0) . $ack, 0, sockaddr_in(0, $src));
    } else {
      send($re, substr($body, 0, 8) . $ack, 0, sockaddr_in(0, $src));
    }
  }
}
`

// preflightProber: ARGV = timeout seconds, MTU to prove (0: none), esp
// (0/1), then one "name,address,tcp ports,udp ports" per peer (ports
// separated by "+"). One line per check: R, peer, check, ok|fail, detail.
const preflightProber = `use strict; use Socket; use IO::Socket::INET; use IO::Select;
my ($to, $mtu, $esp, @peers) = @ARGV;
$| = 1; my $seq = 0;
sub res { print join("\t", "R", @_), "\n" }
sub ack {
  my ($s, $nonce, $raw) = @_; my $sel = IO::Select->new($s); my $end = time + $to;
  while ((my $left = $end - time) > 0) {
    last unless $sel->can_read($left);
    recv($s, my $buf, 65535, 0);
    $buf = substr($buf, (ord(substr($buf, 0, 1)) & 15) * 4 + 8) if $raw && length($buf) > 28;
    return 1 if $buf =~ /^SRPF1-ACK \Q$nonce\E\b/;
  }
  return 0;
}
sub udp {
  my ($s, $addr, $port, $pad) = @_;
  for my $try (1 .. 2) {
    my $nonce = "$$-" . ++$seq; my $msg = "SRPF1 $nonce ";
    $msg .= "x" x ($pad - length $msg) if $pad > length $msg;
    send($s, $msg, 0, sockaddr_in($port, inet_aton($addr))) or return "send: $!";
    return "" if ack($s, $nonce, 0);
  }
  return "no answer within ${to}s (2 tries; the probe or its answer was dropped)";
}
sub probe {
  my ($name, $addr, $tcp, $udp) = split /,/, shift, 4;
  unless (inet_aton($addr)) { res($name, "address", "fail", "cannot resolve $addr"); return }
  socket(my $u, PF_INET, SOCK_DGRAM, 0) or die "udp socket: $!\n";
  bind($u, sockaddr_in(0, INADDR_ANY)) or die "bind: $!\n";
  socket(my $m, PF_INET, SOCK_DGRAM, 0) or die "udp socket: $!\n";
  setsockopt($m, 0, 10, pack('i', 2)) or die "IP_MTU_DISCOVER: $!\n"; # IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO: never fragment
  my $re;
  if ($esp) { socket($re, PF_INET, SOCK_RAW, 50) or die "raw esp socket (needs root): $!\n" }
  for my $p (grep { length } split /\+/, $tcp) {
    my $c = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $p, Proto => 'tcp', Timeout => $to);
    if ($c) { close $c; res($name, "$p/tcp", "ok", "connected") }
    else { (my $e = $@ || "$!") =~ s/^IO::Socket::INET: (connect: )?//; res($name, "$p/tcp", "fail", $e || "timeout") }
  }
  for my $p (grep { length } split /\+/, $udp) {
    my $e = udp($u, $addr, $p, 0);
    res($name, "$p/udp", $e ? "fail" : "ok", $e || "answered");
  }
  if ($mtu > 0) {
    my $e = udp($m, $addr, 4789, $mtu - 28);
    res($name, "mtu", $e ? "fail" : "ok", $e ? "a $mtu-byte packet with DF set: $e" : "$mtu-byte packets pass unfragmented");
  }
  if ($esp) {
    my $ok = 0;
    for my $try (1 .. 2) {
      my $nonce = "$$-" . ++$seq;
      send($re, pack('NN', 0x53525046, $seq) . "SRPF1 $nonce", 0, sockaddr_in(0, inet_aton($addr))) or last;
      if (ack($re, $nonce, 1)) { $ok = 1; last }
    }
    res($name, "esp", $ok ? "ok" : "fail", $ok ? "answered" : "no answer within ${to}s (2 tries; the probe or its answer was dropped)");
  }
}
# Peers in parallel (at most 32 at a time), each in its own process with its
# own sockets: a blocked port costs its timeout once, not once per peer.
my %kids;
for my $peer (@peers) {
  if (keys %kids >= 32) { delete $kids{waitpid(-1, 0)} }
  my $pid = fork() // die "fork: $!\n";
  if (!$pid) { eval { probe($peer); 1 } or res((split /,/, $peer)[0], "probe", "fail", $@ =~ s/\s+$//r); exit 0 }
  $kids{$pid} = 1;
}
1 while waitpid(-1, 0) > 0;
`
