package vault

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Sources says where the vault passwords come from, in ansible's terms.
type Sources struct {
	IDs           []string // --vault-id: "label@source" or "source"; source is a file, an executable or "prompt"
	PasswordFiles []string // --vault-password-file (label "default")
	Ask           bool     // --ask-vault-pass
	// Prompt asks the user for a password (nil: prompting is an error).
	Prompt func(label string) ([]byte, error)
}

// Load reads every password the sources name. A source that cannot be
// read is an error naming it (the password itself is never in it).
func (s Sources) Load() ([]Secret, error) {
	var specs []string
	specs = append(specs, s.IDs...)
	specs = append(specs, s.PasswordFiles...)
	if s.Ask {
		specs = append(specs, "prompt")
	}
	var out []Secret
	for _, spec := range specs {
		label, src := DefaultID, spec
		if l, rest, ok := strings.Cut(spec, "@"); ok {
			label, src = l, rest
		}
		if label == "" {
			label = DefaultID
		}
		pw, err := s.read(label, src)
		if err != nil {
			return nil, err
		}
		out = append(out, Secret{ID: label, Password: pw})
	}
	return out, nil
}

func (s Sources) read(label, src string) ([]byte, error) {
	if src == "prompt" || src == "prompt_ask_vault_pass" {
		if s.Prompt == nil {
			return nil, fmt.Errorf("vault id %s: no terminal to ask for the password", label)
		}
		pw, err := s.Prompt(label)
		if err != nil {
			return nil, fmt.Errorf("vault id %s: %v", label, err)
		}
		return bytes.TrimSpace(pw), nil
	}
	return ReadPasswordFile(label, src)
}

// ReadPasswordFile reads a password file as Ansible does: an executable
// file is run and its stdout (without trailing newlines) is the password
// (a script named *-client gets "--vault-id LABEL"); any other file's
// content with surrounding blanks removed is.
func ReadPasswordFile(label, path string) ([]byte, error) {
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vault password file: %v", err)
	}
	if fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		var args []string
		if strings.HasSuffix(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), "-client") {
			args = []string{"--vault-id", label}
		}
		cmd := exec.Command(path, args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("vault password script %s: %v", path, err)
		}
		out = bytes.TrimRight(out, "\r\n")
		if len(out) == 0 {
			return nil, fmt.Errorf("vault password script %s printed no password", path)
		}
		return out, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault password file: %v", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("vault password file %s is empty", path)
	}
	return data, nil
}
