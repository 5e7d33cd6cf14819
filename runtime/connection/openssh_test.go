package connection

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmrun/swarmrun/runtime/connection/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestOpenSSH runs against the real sshd, with its internal-sftp (which has
// fsync@openssh.com) and stream-local forwarding.
func TestOpenSSH(t *testing.T) {
	const sshd = "/usr/sbin/sshd"
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sshd")
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Skip("no sshd (apt-get install -y openssh-server)")
	}
	home := isolate(t)
	dir := t.TempDir()
	os.MkdirAll("/run/sshd", 0o755) // privilege separation directory

	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(hostPriv, "")
	hostKey := filepath.Join(dir, "host_key")
	os.WriteFile(hostKey, pem.EncodeToMemory(block), 0o600)
	hostSigner, _ := ssh.NewSignerFromKey(hostPriv)

	key, pub := sshtest.KeyFile(t)
	authKeys := filepath.Join(dir, "authorized_keys")
	os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(pub), 0o600)

	port := sshtest.FreePort(t)
	conf := filepath.Join(dir, "sshd_config")
	os.WriteFile(conf, []byte(fmt.Sprintf(`ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
Subsystem sftp internal-sftp
LogLevel ERROR
`, hostKey, authKeys, dir)), 0o600)
	var logs bytes.Buffer
	cmd := exec.Command(sshd, "-D", "-e", "-f", conf, "-p", fmt.Sprint(port), "-h", hostKey)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd: %s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("sshd did not start: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	kh := filepath.Join(home, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostSigner.PublicKey())+"\n"), 0o600)
	cfg := FromVars("real", map[string]any{
		"ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "root",
		"ansible_ssh_private_key_file": key, "swarmrun_known_hosts_file": kh,
	}, Config{})
	ctx := context.Background()
	start := time.Now()
	c := dial(t, cfg)
	t.Logf("connected in %s", time.Since(start))

	res := mustRun(t, c, "cat; echo; id -u; exit 7", RunOpts{Stdin: []byte("in"), Become: true})
	if string(res.Stdout) != "in\n0\n" || res.ExitCode != 7 {
		t.Errorf("Run = %q, %d, %q", res.Stdout, res.ExitCode, res.Stderr)
	}

	// Commands without stdin share one long-lived shell ($$ is its pid).
	a, b := mustRun(t, c, "echo $$", RunOpts{}), mustRun(t, c, "echo $$; echo e >&2; exit 4", RunOpts{})
	if string(a.Stdout) != string(b.Stdout) || string(b.Stderr) != "e\n" || b.ExitCode != 4 {
		t.Errorf("shell reuse: %q then %q %q %d", a.Stdout, b.Stdout, b.Stderr, b.ExitCode)
	}

	p := filepath.Join(dir, "conf")
	if _, err := c.ReadFile(ctx, p, false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile missing: %v", err)
	}
	if err := c.WriteFile(ctx, p, []byte("hello"), WriteOpts{Mode: 0o640, Owner: "nobody"}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, "hello", 0o640, 65534)
	if err := c.WriteFile(ctx, p, []byte("again"), WriteOpts{}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, p, "again", 0o640, 65534)
	if got, err := c.ReadFile(ctx, p, false); err != nil || string(got) != "again" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	fi, err := c.Stat(ctx, p, false)
	if err != nil || fi.Owner != "nobody" || fi.Group != "root" || fi.Mode != 0o640 || fi.Size != 5 {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	noTemp(t, dir)

	sock := serveUnix(t, echo)
	nc, err := c.DialUnix(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "ping" {
		t.Errorf("DialUnix read %q, %v", buf, err)
	}
	nc.Close()

	// Cancelling ends the remote command, although sshd does not deliver
	// signals to root sessions.
	pidFile := filepath.Join(dir, "pid")
	waitDead(t, runCancelled(t, c, "echo $$ > "+pidFile+"; exec sleep 31", pidFile), "remote command")
	// A child of a cancelled command in the shell ends with it, and the
	// next command gets a new shell.
	os.Remove(pidFile)
	waitDead(t, runCancelled(t, c, "sleep 32 & echo $! > "+pidFile+"; wait", pidFile), "child of a cancelled command")
	if res := mustRun(t, c, "echo again", RunOpts{}); string(res.Stdout) != "again\n" {
		t.Errorf("after cancel: %q", res.Stdout)
	}
}
