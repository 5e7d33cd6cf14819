package connection

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// globalKnownHosts is read too, as OpenSSH does; keys are only ever appended
// to the user's file.
const globalKnownHosts = "/etc/ssh/ssh_known_hosts"

// knownHostsMu serialises appends to known_hosts files: many hosts (or many
// targets behind one unknown jump host) may be accepted at once.
var knownHostsMu sync.Mutex

// hostKeys checks host keys against known_hosts under one policy.
type hostKeys struct {
	file   string // the user's known_hosts file
	policy string
	hash   bool // write hashed host names (HashKnownHosts)
}

func (h *hostKeys) files() []string {
	files := []string{h.file}
	if _, err := os.Stat(globalKnownHosts); err == nil {
		files = append(files, globalKnownHosts)
	}
	return files
}

// parsedKnownHosts keeps the last parse of a set of known_hosts files,
// keyed by their names, sizes and modification times: with a hundred hosts
// every dial parsing the whole file twice was an eighth of a no-op run's
// CPU. An append (accept-new) changes the key.
var parsedKnownHosts struct {
	sync.Mutex
	key string
	cb  ssh.HostKeyCallback
}

// load parses the known_hosts files; missing files count as empty.
func (h *hostKeys) load() (ssh.HostKeyCallback, error) {
	var files []string
	var key strings.Builder
	for _, f := range h.files() {
		if st, err := os.Stat(f); err == nil {
			files = append(files, f)
			fmt.Fprintf(&key, "%s\x00%d\x00%d\x00", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	if len(files) == 0 {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	parsedKnownHosts.Lock()
	defer parsedKnownHosts.Unlock()
	if parsedKnownHosts.key == key.String() {
		return parsedKnownHosts.cb, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("reading known hosts: %w", err)
	}
	parsedKnownHosts.key, parsedKnownHosts.cb = key.String(), cb
	return cb, nil
}

// algorithms returns the host key algorithms known for addr, so that the
// server is asked for a key we can check rather than its favourite type.
func (h *hostKeys) algorithms(addr string) []string {
	if h.policy == Off {
		return nil
	}
	cb, err := h.load()
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, tcpAddr(nil), probeKey{}), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsForKeyType(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{t}
}

// callback returns the HostKeyCallback for the host called name in messages.
func (h *hostKeys) callback(name string) ssh.HostKeyCallback {
	if h.policy == Off {
		return ssh.InsecureIgnoreHostKey()
	}
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		cb, err := h.load()
		if err != nil {
			return err
		}
		remote = tcpAddr(remote)
		err = cb(addr, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		if len(ke.Want) > 0 {
			return h.changedError(name, addr, key, ke.Want)
		}
		if h.policy != AcceptNew {
			return fmt.Errorf("host key for %s (%s) is unknown: %s %s is not in %s; "+
				"verify it and add it (ssh-keyscan -p PORT HOST >> %s), or use accept-new host key checking",
				name, knownhosts.Normalize(addr), key.Type(), ssh.FingerprintSHA256(key), h.file, h.file)
		}
		return h.append(name, addr, remote, key)
	}
}

func (h *hostKeys) changedError(name, addr string, key ssh.PublicKey, want []knownhosts.KnownKey) error {
	var known []string
	for _, k := range want {
		known = append(known, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
	}
	return fmt.Errorf("HOST KEY CHANGED for %s (%s): it offered %s %s but known_hosts has %s; "+
		"this may be an attack. If the host was reinstalled, remove the old key (ssh-keygen -R %q -f %s) and connect again",
		name, knownhosts.Normalize(addr), key.Type(), ssh.FingerprintSHA256(key), strings.Join(known, ", "),
		knownhosts.Normalize(addr), h.file)
}

// append records a new host key. It re-reads the file under the lock so
// that concurrent connections to one new host add it once, and so a key
// that changed meanwhile is still refused.
func (h *hostKeys) append(name, addr string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	cb, err := h.load()
	if err != nil {
		return err
	}
	err = cb(addr, remote, key)
	var ke *knownhosts.KeyError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ke):
		return err
	case len(ke.Want) > 0:
		return h.changedError(name, addr, key, ke.Want)
	}
	host := knownhosts.Normalize(addr)
	if h.hash {
		host = knownhosts.HashHostname(host)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return fmt.Errorf("adding host key of %s: %w", name, err)
	}
	f, err := os.OpenFile(h.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("adding host key of %s: %w", name, err)
	}
	defer f.Close()
	// Keep one entry per line even if the file lacks a final newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, st.Size()-1); err == nil && b[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("adding host key of %s to %s: %w", name, h.file, err)
	}
	return f.Close()
}

// probeKey is a key no known_hosts line matches; checking it lists the keys
// known for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "swarmrun-probe" }
func (probeKey) Marshal() []byte                     { return []byte("swarmrun-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return fs.ErrInvalid }

// tcpAddr gives knownhosts the *net.TCPAddr it insists on; connections
// through a jump host have none.
func tcpAddr(a net.Addr) net.Addr {
	if _, ok := a.(*net.TCPAddr); ok {
		return a
	}
	return &net.TCPAddr{IP: net.IPv4zero}
}
