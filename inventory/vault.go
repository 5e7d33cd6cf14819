package inventory

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/swarmrun/swarmrun/vault"
	"gopkg.in/yaml.v3"
)

// Vault opens Ansible Vault data met while reading inventories and vars
// files (whole encrypted files and YAML "!vault" scalars) and remembers
// every plaintext, so the caller can mask them in all output. A nil
// *Vault has no passwords: meeting vault data is then an error.
type Vault struct {
	secrets []vault.Secret

	mu     sync.Mutex
	inline map[string]string // plaintext of a !vault scalar -> its envelope
	plain  map[string]bool   // every decrypted string
}

// NewVault returns a Vault that decrypts with secrets.
func NewVault(secrets []vault.Secret) *Vault {
	return &Vault{secrets: secrets, inline: map[string]string{}, plain: map[string]bool{}}
}

// Plaintexts lists every decrypted string so far (secrets to mask).
func (v *Vault) Plaintexts() []string {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]string, 0, len(v.plain))
	for s := range v.plain {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Secrets returns the vault passwords.
func (v *Vault) Secrets() []vault.Secret {
	if v == nil {
		return nil
	}
	return v.secrets
}

// open returns data decrypted if it is a vault envelope (and whether it
// was), or data unchanged.
func (v *Vault) open(file string, data []byte) ([]byte, bool, error) {
	if !vault.IsEncrypted(data) {
		return data, false, nil
	}
	pt, _, err := vault.Decrypt(data, v.Secrets())
	if err != nil {
		return nil, true, fmt.Errorf("%s: %v", file, err)
	}
	return pt, true, nil
}

// inlineValue decrypts a "!vault |" scalar.
func (v *Vault) inlineValue(file string, n *yaml.Node) (string, error) {
	pt, _, err := vault.Decrypt([]byte(n.Value), v.Secrets())
	if err != nil {
		return "", fmt.Errorf("%s:%d: !vault value: %v", file, n.Line, err)
	}
	s := string(pt)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inline[s] = n.Value
	v.plain[s] = true
	return s, nil
}

// addLeaves records every string inside x as decrypted: the content of a
// whole encrypted file is secret throughout.
func (v *Vault) addLeaves(x any) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	EachString(x, func(s string) { v.plain[s] = true })
}

// EachString calls f with every string inside x, a variable's value:
// lists and mappings are walked, other values skipped. The redactor
// (runtime/redact.go) registers secrets with it too.
func EachString(x any, f func(string)) {
	switch x := x.(type) {
	case string:
		f(x)
	case []any:
		for _, e := range x {
			EachString(e, f)
		}
	case map[string]any:
		for _, e := range x {
			EachString(e, f)
		}
	}
}

// listValue is how `swarmrun inventory` shows a string: a !vault scalar
// as ansible-inventory shows it ({"__ansible_vault": envelope}), any
// other decrypted string masked.
func (v *Vault) listValue(s string) any {
	if v == nil {
		return s
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if env, ok := v.inline[s]; ok {
		return map[string]any{"__ansible_vault": env}
	}
	if v.plain[strings.TrimSpace(s)] || v.plain[s] {
		return "********"
	}
	return s
}

// markAllVarsSecret records every inventory variable as decrypted: the
// inventory file itself was vault-encrypted.
func (inv *Inventory) markAllVarsSecret() {
	for _, g := range inv.groupOrder {
		inv.vault.addLeaves(g.vars)
	}
	for _, h := range inv.hostOrder {
		inv.vault.addLeaves(h.vars)
	}
}

// Vault returns the inventory's vault (nil without passwords).
func (inv *Inventory) Vault() *Vault { return inv.vault }

// Secrets lists every string the inventory decrypted: values to mask.
func (inv *Inventory) Secrets() []string { return inv.vault.Plaintexts() }

// readVarsFile reads a YAML/JSON vars file that may be vault-encrypted
// whole or hold !vault values.
func readVarsFile(file string, v *Vault) (any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	data, encrypted, err := v.open(file, data)
	if err != nil {
		return nil, err
	}
	x, err := decodeYAMLValue(file, data, v)
	if err != nil {
		return nil, err
	}
	if encrypted {
		v.addLeaves(x)
	}
	return x, nil
}
