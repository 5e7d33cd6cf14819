// Package vault reads and writes Ansible Vault envelopes (format 1.1 and
// 1.2, cipher AES256), byte for byte what ansible-vault reads and writes:
// PBKDF2-SHA256 (10000 rounds) derives an AES-256-CTR key, an HMAC-SHA256
// key and the counter's start from the password and a 32-byte salt; the
// PKCS#7-padded plaintext is encrypted, and "hex(salt)\nhex(hmac)\nhex(ct)"
// is hex-encoded again and cut into 80-column lines under the header.
package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Header starts every vault envelope.
const Header = "$ANSIBLE_VAULT"

// DefaultID is the label of a secret given without one.
const DefaultID = "default"

// Secret is one vault password with its label (vault id).
type Secret struct {
	ID       string
	Password []byte
}

// ErrNoSecret means a vault was found but no password was given.
var ErrNoSecret = errors.New("found vault-encrypted data but no vault password was given (--vault-password-file, --ask-vault-pass, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE)")

// IsEncrypted reports whether data is a vault envelope.
func IsEncrypted(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(Header))
}

// Envelope is a parsed vault file: its version, cipher, label and the
// inner (once hex-decoded) text.
type Envelope struct {
	Version, Cipher, ID string
	body                []byte
}

// Parse splits a vault envelope into header fields and body.
func Parse(data []byte) (*Envelope, error) {
	text := strings.TrimSpace(string(data))
	lines := strings.Split(text, "\n")
	head := strings.Split(strings.TrimSpace(lines[0]), ";")
	if len(head) < 3 || strings.TrimSpace(head[0]) != Header {
		return nil, errors.New("vault envelope format error: bad header")
	}
	env := &Envelope{Version: strings.TrimSpace(head[1]), Cipher: strings.TrimSpace(head[2]), ID: DefaultID}
	if len(head) > 3 && env.Version == "1.2" {
		env.ID = strings.TrimSpace(head[3])
	}
	if env.Cipher != "AES256" {
		return nil, fmt.Errorf("vault cipher %q is not supported (only AES256)", env.Cipher)
	}
	var hexBody strings.Builder
	for _, l := range lines[1:] {
		hexBody.WriteString(strings.TrimSpace(l))
	}
	body, err := hex.DecodeString(hexBody.String())
	if err != nil {
		return nil, fmt.Errorf("vault envelope format error: %v", err)
	}
	env.body = body
	return env, nil
}

// Decrypt opens a vault envelope with the first secret that fits: those
// whose label matches the envelope's first, then the others (as Ansible
// does with vault_id_match off). It returns the plaintext and the label of
// the secret that opened it.
func Decrypt(data []byte, secrets []Secret) ([]byte, string, error) {
	env, err := Parse(data)
	if err != nil {
		return nil, "", err
	}
	if len(secrets) == 0 {
		return nil, "", ErrNoSecret
	}
	var order []Secret
	for _, s := range secrets {
		if s.ID == env.ID {
			order = append(order, s)
		}
	}
	for _, s := range secrets {
		if s.ID != env.ID {
			order = append(order, s)
		}
	}
	for _, s := range order {
		if pt, err := env.open(s.Password); err == nil {
			return pt, s.ID, nil
		}
	}
	return nil, "", errors.New("decryption failed: no vault secret (password) found that opens it")
}

func (env *Envelope) open(password []byte) ([]byte, error) {
	parts := bytes.SplitN(env.body, []byte("\n"), 3)
	if len(parts) != 3 {
		return nil, errors.New("vault format error: expected salt, hmac and ciphertext")
	}
	salt, err1 := hex.DecodeString(string(parts[0]))
	mac, err2 := hex.DecodeString(string(parts[1]))
	ct, err3 := hex.DecodeString(string(bytes.TrimSpace(parts[2])))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("vault format error: %v", err)
	}
	k1, k2, iv, err := deriveKeys(password, salt)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, k2)
	h.Write(ct)
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, errors.New("HMAC verification failed")
	}
	pt, err := ctr(k1, iv, ct)
	if err != nil {
		return nil, err
	}
	return unpad(pt)
}

// Encrypt seals plaintext with secret. A label other than "default" makes
// a 1.2 envelope that carries it, as ansible-vault does.
func Encrypt(plaintext []byte, secret Secret) ([]byte, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	k1, k2, iv, err := deriveKeys(secret.Password, salt)
	if err != nil {
		return nil, err
	}
	ct, err := ctr(k1, iv, pad(plaintext))
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, k2)
	h.Write(ct)
	inner := strings.Join([]string{hex.EncodeToString(salt), hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(ct)}, "\n")
	body := hex.EncodeToString([]byte(inner))
	header := Header + ";1.1;AES256"
	if secret.ID != "" && secret.ID != DefaultID {
		header = Header + ";1.2;AES256;" + secret.ID
	}
	var out strings.Builder
	out.WriteString(header)
	for i := 0; i < len(body); i += 80 {
		out.WriteString("\n")
		out.WriteString(body[i:min(i+80, len(body))])
	}
	out.WriteString("\n")
	return []byte(out.String()), nil
}

func deriveKeys(password, salt []byte) (k1, k2, iv []byte, err error) {
	dk, err := pbkdf2.Key(sha256.New, string(password), salt, 10000, 2*32+aes.BlockSize)
	if err != nil {
		return nil, nil, nil, err
	}
	return dk[:32], dk[32:64], dk[64:], nil
}

func ctr(key, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

func pad(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	return append(append([]byte{}, b...), bytes.Repeat([]byte{byte(n)}, n)...)
}

func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, errors.New("vault: bad padding")
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, errors.New("vault: bad padding")
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, errors.New("vault: bad padding")
		}
	}
	return b[:len(b)-n], nil
}
