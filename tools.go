//go:build tools

package tools

import (
	_ "github.com/docker/cli/cli/compose/convert"
	_ "github.com/docker/cli/cli/compose/loader"
	_ "github.com/docker/docker/client"
	_ "github.com/kevinburke/ssh_config"
	_ "github.com/pkg/sftp"
	_ "github.com/pmezard/go-difflib/difflib"
	_ "github.com/urfave/cli/v2"
	_ "go.starlark.net/starlark"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/crypto/ssh/knownhosts"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
)
