package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/swarmrun/swarmrun/inventory"
	"github.com/swarmrun/swarmrun/vault"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// vaultFlags are Ansible's vault password options, on every command that
// reads inventories or vault files.
func vaultFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "vault-id", Usage: "vault password as `LABEL@SOURCE` (SOURCE: a file, an executable, or prompt; repeatable)"},
		&cli.StringSliceFlag{Name: "vault-password-file", Aliases: []string{"vault-pass-file"}, Usage: "vault password `FILE` (an executable is run)"},
		&cli.BoolFlag{Name: "ask-vault-pass", Aliases: []string{"ask-vault-password", "J"}, Usage: "prompt for the vault password"},
	}
}

// vaultSecrets reads the passwords the flags (and ansible.cfg) name.
func vaultSecrets(c *cli.Context) ([]vault.Secret, error) {
	s := vault.Sources{
		IDs:           c.StringSlice("vault-id"),
		PasswordFiles: c.StringSlice("vault-password-file"),
		Ask:           c.Bool("ask-vault-pass"),
		Prompt: func(label string) ([]byte, error) {
			if label == vault.DefaultID {
				return askPassword("Vault password: ")
			}
			return askPassword(fmt.Sprintf("Vault password (%s): ", label))
		},
	}
	return s.Load()
}

// stdinLines is shared so that several prompts can read piped lines.
var stdinLines = bufio.NewReader(os.Stdin)

// askPassword reads a password from the terminal without echo, or one
// line of standard input when it is not a terminal (scripts, tests).
func askPassword(prompt string) ([]byte, error) {
	fmt.Fprint(os.Stderr, prompt)
	if term.IsTerminal(int(os.Stdin.Fd())) {
		pw, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		return pw, err
	}
	line, err := stdinLines.ReadString('\n')
	fmt.Fprintln(os.Stderr)
	if err != nil && line == "" {
		return nil, fmt.Errorf("reading the password: %v", err)
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// loadVault builds the inventory's vault from the flags.
func loadVault(c *cli.Context) (*inventory.Vault, error) {
	secrets, err := vaultSecrets(c)
	if err != nil {
		return nil, err
	}
	return inventory.NewVault(secrets), nil
}

// vaultCommand's actions return plain errors: main prints them and exits 1,
// as for cli.Exit(msg, 1).
func vaultCommand() *cli.Command {
	enc := &cli.StringFlag{Name: "encrypt-vault-id", Usage: "the vault id `LABEL` to encrypt with (when several are given)"}
	out := &cli.StringFlag{Name: "output", Usage: "write to `FILE` instead of in place (- for stdout)"}
	sub := func(name, usage, args string, action cli.ActionFunc, extra ...cli.Flag) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, ArgsUsage: args, Flags: append(vaultFlags(), extra...), Action: action, Before: applyAnsibleCfg}
	}
	return &cli.Command{
		Name:  "vault",
		Usage: "encrypt and decrypt Ansible Vault files (what ansible-vault reads and writes)",
		Subcommands: []*cli.Command{
			sub("encrypt", "encrypt files in place (stdin to stdout without files)", "[FILE...]", vaultEncrypt, enc, out),
			sub("decrypt", "decrypt files in place (stdin to stdout without files)", "[FILE...]", vaultDecrypt, out),
			sub("view", "print the plaintext of vault files", "FILE...", vaultView),
			sub("edit", "decrypt into $EDITOR, encrypt again when saved", "FILE", vaultEdit, enc),
			sub("create", "write a new vault file with $EDITOR", "FILE", vaultCreate, enc),
			sub("encrypt_string", "print a !vault value for YAML vars files", "[STRING]", vaultEncryptString, enc,
				&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "print it as the variable `NAME`"}),
			sub("rekey", "encrypt vault files again with a new password", "FILE...", vaultRekey, enc,
				&cli.StringFlag{Name: "new-vault-password-file", Usage: "the new password `FILE`"},
				&cli.StringFlag{Name: "new-vault-id", Usage: "the new password as `LABEL@SOURCE`"}),
		},
	}
}

// encryptSecret picks the secret to encrypt with, as ansible-vault does:
// --encrypt-vault-id, else the only one given, else a new password asked twice.
func encryptSecret(c *cli.Context, secrets []vault.Secret) (vault.Secret, error) {
	if id := c.String("encrypt-vault-id"); id != "" {
		for _, s := range secrets {
			if s.ID == id {
				return s, nil
			}
		}
		return vault.Secret{}, fmt.Errorf("no vault password with the id %q was given", id)
	}
	switch len(secrets) {
	case 1:
		return secrets[0], nil
	case 0:
		pw, err := askPassword("New Vault password: ")
		if err != nil {
			return vault.Secret{}, err
		}
		again, err := askPassword("Confirm New Vault password: ")
		if err != nil {
			return vault.Secret{}, err
		}
		if !bytes.Equal(pw, again) || len(pw) == 0 {
			return vault.Secret{}, fmt.Errorf("passwords do not match or are empty")
		}
		return vault.Secret{ID: vault.DefaultID, Password: pw}, nil
	}
	var ids []string
	for _, s := range secrets {
		ids = append(ids, s.ID)
	}
	return vault.Secret{}, fmt.Errorf("the vault ids %s are available to encrypt: choose one with --encrypt-vault-id", strings.Join(ids, ","))
}

// filesSecrets reads the given passwords of a command that needs FILE
// arguments (usage, if there are none).
func filesSecrets(c *cli.Context, usage string) ([]vault.Secret, error) {
	if c.NArg() == 0 {
		return nil, cli.Exit(usage, 1)
	}
	return vaultSecrets(c)
}

// newSecret reads the given passwords and picks the one to encrypt with.
func newSecret(c *cli.Context) (vault.Secret, error) {
	secrets, err := vaultSecrets(c)
	if err != nil {
		return vault.Secret{}, err
	}
	return encryptSecret(c, secrets)
}

// transform applies f to each file in place (or to --output), or to
// stdin when there are no files.
func transform(c *cli.Context, f func(name string, data []byte) ([]byte, error)) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return err
		}
		res, err := f(name, data)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		dest := c.String("output")
		if dest == "" {
			dest = name
		}
		if err := writeOut(dest, res); err != nil {
			return err
		}
	}
	return nil
}

// writeOut writes to stdout ("-") or replaces a file atomically, keeping
// its mode (0600 for a new file).
func writeOut(dest string, data []byte) error {
	if dest == "-" {
		_, err := os.Stdout.Write(data)
		return err
	}
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(dest); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".swarmrun-vault-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

func vaultEncrypt(c *cli.Context) error {
	s, err := newSecret(c)
	if err != nil {
		return err
	}
	return transform(c, func(_ string, data []byte) ([]byte, error) {
		if vault.IsEncrypted(data) {
			return nil, fmt.Errorf("input is already encrypted")
		}
		return vault.Encrypt(data, s)
	})
}

func vaultDecrypt(c *cli.Context) error {
	secrets, err := vaultSecrets(c)
	if err != nil {
		return err
	}
	return transform(c, func(_ string, data []byte) ([]byte, error) {
		pt, _, err := vault.Decrypt(data, secrets)
		return pt, err
	})
}

func vaultView(c *cli.Context) error {
	secrets, err := filesSecrets(c, "usage: swarmrun vault view FILE...")
	if err != nil {
		return err
	}
	for _, name := range c.Args().Slice() {
		pt, _, err := openVaultFile(name, secrets)
		if err != nil {
			return err
		}
		os.Stdout.Write(pt)
	}
	return nil
}

// openVaultFile decrypts a vault file; errors name the file.
func openVaultFile(name string, secrets []vault.Secret) ([]byte, string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, "", err
	}
	pt, id, err := vault.Decrypt(data, secrets)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", name, err)
	}
	return pt, id, nil
}

// vaultEncryptString prints STRING (or stdin) as a YAML "!vault |" value.
func vaultEncryptString(c *cli.Context) error {
	s, err := newSecret(c)
	if err != nil {
		return err
	}
	var plain []byte
	if c.NArg() > 0 {
		plain = []byte(c.Args().First())
	} else {
		fmt.Fprintln(os.Stderr, "Reading plaintext input from stdin. (ctrl-d to end input)")
		if plain, err = io.ReadAll(os.Stdin); err != nil {
			return err
		}
	}
	env, err := vault.Encrypt(plain, s)
	if err != nil {
		return err
	}
	var b strings.Builder
	if n := c.String("name"); n != "" {
		b.WriteString(n + ": ")
	}
	b.WriteString("!vault |\n")
	for _, line := range strings.Split(strings.TrimRight(string(env), "\n"), "\n") {
		b.WriteString("          " + line + "\n")
	}
	fmt.Print(b.String())
	return nil
}

func vaultRekey(c *cli.Context) error {
	secrets, err := filesSecrets(c, "usage: swarmrun vault rekey FILE... --new-vault-password-file F")
	if err != nil {
		return err
	}
	var newSrc vault.Sources
	switch {
	case c.String("new-vault-id") != "":
		newSrc.IDs = []string{c.String("new-vault-id")}
	case c.String("new-vault-password-file") != "":
		newSrc.PasswordFiles = []string{c.String("new-vault-password-file")}
	default:
		newSrc.IDs = []string{"prompt"}
		newSrc.Prompt = func(string) ([]byte, error) { return askPassword("New Vault password: ") }
	}
	fresh, err := newSrc.Load()
	if err != nil {
		return err
	}
	return transform(c, func(_ string, data []byte) ([]byte, error) {
		pt, _, err := vault.Decrypt(data, secrets)
		if err != nil {
			return nil, err
		}
		return vault.Encrypt(pt, fresh[0])
	})
}

// vaultEdit decrypts FILE into a private temporary file, runs $EDITOR on
// it and encrypts the result back with the same label, if it changed.
func vaultEdit(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: swarmrun vault edit FILE", 1)
	}
	name := c.Args().First()
	secrets, err := vaultSecrets(c)
	if err != nil {
		return err
	}
	pt, id, err := openVaultFile(name, secrets)
	if err != nil {
		return err
	}
	var s vault.Secret
	for _, x := range secrets {
		if x.ID == id {
			s = x
		}
	}
	if c.String("encrypt-vault-id") != "" {
		if s, err = encryptSecret(c, secrets); err != nil {
			return err
		}
	}
	edited, err := runEditor(filepath.Base(name), pt)
	if err != nil {
		return err
	}
	if bytes.Equal(edited, pt) {
		return nil
	}
	env, err := vault.Encrypt(edited, s)
	if err != nil {
		return err
	}
	return writeOut(name, env)
}

// vaultCreate edits a new, empty file in $EDITOR and writes it encrypted.
func vaultCreate(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: swarmrun vault create FILE", 1)
	}
	name := c.Args().First()
	if _, err := os.Stat(name); err == nil {
		return cli.Exit(fmt.Sprintf("%s exists: use swarmrun vault edit", name), 1)
	}
	s, err := newSecret(c)
	if err != nil {
		return err
	}
	pt, err := runEditor(filepath.Base(name), nil)
	if err != nil {
		return err
	}
	env, err := vault.Encrypt(pt, s)
	if err != nil {
		return err
	}
	return writeOut(name, env)
}

func runEditor(base string, content []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "swarmrun-vault-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // the plaintext never outlives the edit
	tmp := filepath.Join(dir, base)
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		return nil, err
	}
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.Command("sh", "-c", editor+` "$1"`, "editor", tmp)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("editor %s: %v", editor, err)
	}
	return os.ReadFile(tmp)
}
