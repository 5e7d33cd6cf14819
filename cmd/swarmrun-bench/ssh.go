package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshPool is a minimal x/crypto/ssh client for the lab: the same key for
// every host, host keys checked against the lab's known_hosts. It is the
// floor (what one connection plus one command per host costs) and the
// bench's own tool for resetting hosts between runs.
type sshPool struct {
	signers map[string]ssh.Signer
	hostKey ssh.HostKeyCallback
}

// newSSHPool reads the keys and known_hosts the inventory names.
func newSSHPool(inv *labInventory) (*sshPool, error) {
	p := &sshPool{signers: map[string]ssh.Signer{}}
	khFile, _ := inv.AllVars["swarmrun_known_hosts_file"].(string)
	if khFile == "" {
		// ansible_ssh_common_args='-o UserKnownHostsFile=PATH ...'
		args, _ := inv.AllVars["ansible_ssh_common_args"].(string)
		if _, rest, ok := strings.Cut(args, "UserKnownHostsFile="); ok && len(strings.Fields(rest)) > 0 {
			khFile = strings.Fields(rest)[0]
		}
	}
	if khFile == "" {
		return nil, errors.New("inventory names no known_hosts file")
	}
	cb, err := knownhosts.New(khFile)
	if err != nil {
		return nil, err
	}
	p.hostKey = cb
	for _, h := range inv.Hosts {
		kf := h.Vars["ansible_ssh_private_key_file"]
		if _, ok := p.signers[kf]; ok || kf == "" {
			continue
		}
		b, err := os.ReadFile(kf)
		if err != nil {
			return nil, err
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kf, err)
		}
		p.signers[kf] = s
	}
	return p, nil
}

func (p *sshPool) dial(ctx context.Context, h labHost) (*ssh.Client, error) {
	user := h.Vars["ansible_user"]
	if user == "" {
		user = "root"
	}
	port := h.Vars["ansible_port"]
	if port == "" {
		port = "22"
	}
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(p.signers[h.Vars["ansible_ssh_private_key_file"]])},
		HostKeyCallback: p.hostKey,
		Timeout:         30 * time.Second,
	}
	addr := net.JoinHostPort(h.addr(), port)
	d := net.Dialer{Timeout: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// output runs cmd in a session and returns its standard output; a non-zero
// exit is an error carrying standard error.
func output(c *ssh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if err := s.Run(cmd); err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s", cmd, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// onAll runs f on a connection to each host, all in parallel, and returns
// the first error.
func (p *sshPool) onAll(ctx context.Context, hosts []labHost, f func(h labHost, c *ssh.Client) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.dial(ctx, h)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", h.Name, err)
				return
			}
			defer c.Close()
			if err := f(h, c); err != nil {
				errs[i] = fmt.Errorf("%s: %w", h.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// floorMain is `swarmrun-bench floor [-k K] INVENTORY`: the floor program, run as
// its own process so that it pays the same start-up as swarmrun. It reads
// the inventory, key and known_hosts, opens one SSH connection per host in
// parallel, runs `true` on each (K times, one after the other, with -k:
// the least a K-step playbook with one round trip per step can cost), and
// exits.
func floorMain(args []string) int {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	k := fs.Int("k", 1, "commands to run one after the other on each host")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: swarmrun-bench floor [-k N] INVENTORY")
		return 2
	}
	inv, err := loadInventory(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := newSSHPool(inv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = p.onAll(context.Background(), inv.Hosts, func(_ labHost, c *ssh.Client) error {
		for range *k {
			if _, err := output(c, "true"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
