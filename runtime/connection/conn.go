// Package connection reaches a host: SSH (with SFTP and a Docker socket
// tunnel) or the local machine. One Conn per host is shared by every step of a
// run, so implementations must be safe for concurrent use.
package connection

import (
	"context"
	"io/fs"
	"net"
	"time"

	"github.com/docker/docker/client"
)

// Conn is an open connection to one host.
type Conn interface {
	// Run executes cmd with `sh -c` on the host. A non-zero exit status is not
	// an error (see RunResult.ExitCode); an error means the host could not be
	// reached or the session broke. Cancelling ctx kills the command's
	// process group. Errors name the host.
	Run(ctx context.Context, cmd string, o RunOpts) (*RunResult, error)
	// ReadFile returns a file's content; a missing file gives an error that
	// matches fs.ErrNotExist.
	ReadFile(ctx context.Context, path string, become bool) ([]byte, error)
	// Stat describes path without following a final symlink; a missing path
	// gives an error that matches fs.ErrNotExist.
	Stat(ctx context.Context, path string, become bool) (*FileInfo, error)
	// WriteFile replaces path atomically: a temporary file in the same
	// directory is written, synced, given mode and owner, then renamed over
	// path. Readers see the old or the new content, never a partial file;
	// on failure path is untouched and the temporary file is removed.
	WriteFile(ctx context.Context, path string, data []byte, o WriteOpts) error
	// Fetch copies a remote file to a local path (atomically on the local side).
	Fetch(ctx context.Context, remote, local string, become bool) error
	// DialUnix opens a stream to a unix socket on the host (OpenSSH
	// stream-local forwarding), e.g. /var/run/docker.sock.
	DialUnix(ctx context.Context, path string) (net.Conn, error)
	// Docker returns the host's Docker Engine API client over this
	// connection (see DockerClient), made once per become setting and
	// closed with the connection.
	Docker(ctx context.Context, become bool) (client.APIClient, error)
	// Close ends the connection.
	Close() error
}

// RunOpts modify one command execution.
type RunOpts struct {
	Become     bool   // run through sudo
	BecomeUser string // sudo -u; default root
	Stdin      []byte // fed to the command's standard input
}

// RunResult is what a finished command produced.
type RunResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// WriteOpts describe the file WriteFile leaves behind.
type WriteOpts struct {
	Mode   fs.FileMode // permission bits; 0 keeps an existing file's mode, else 0644
	Owner  string      // user name or id; empty keeps the existing or default owner
	Group  string
	Become bool
}

// FileInfo is what Stat reports.
type FileInfo struct {
	Mode       fs.FileMode // type and permission bits
	Size       int64
	Owner      string // user name (or numeric id if it has no name)
	Group      string
	ModTime    time.Time
	LinkTarget string // for symlinks
}
