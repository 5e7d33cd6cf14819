package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/swarmrun/swarmrun/runtime"
	"github.com/swarmrun/swarmrun/runtime/connection"
)

// verbosity counts -v flags: 1 messages of unchanged steps, 2 module
// stdout/stderr, 3 the commands sent to hosts, 4 SSH connection details.
var verbosity int

// expandVerbose turns -vv, -vvv, -vvvv into repeated -v, which is how the
// flag parser counts them.
func expandVerbose(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" || (i == 1 && a == "lab") { // lab ssh HOST CMD...: CMD's flags are its own
			return append(out, args[i:]...)
		}
		if len(a) > 2 && strings.Trim(a, "v") == "-" {
			for range len(a) - 1 {
				out = append(out, "-v")
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// debugLog prints -vvv/-vvvv lines to w, masked by the run's redactor.
type debugLog struct {
	mu     sync.Mutex
	w      io.Writer
	redact *runtime.Redactor
}

func (d *debugLog) printf(format string, args ...any) {
	line := d.redact.Redact(fmt.Sprintf(format, args...))
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintln(d.w, line)
}

// dialVerbose dials like connection.Dial and, by verbosity, logs the
// connection (4) and every command sent (3).
func dialVerbose(ctx context.Context, cfg connection.Config, log *debugLog) (connection.Conn, error) {
	if verbosity >= 4 {
		log.printf("<%s> SSH: connecting to %s (keys %v, host key checking %q, known_hosts %q, proxy %q, timeout %s)",
			cfg.Name, cfg, cfg.KeyFiles, cfg.HostKeyChecking, cfg.KnownHostsFile, cfg.ProxyJump, cfg.ConnectTimeout)
	}
	t0 := time.Now()
	c, err := connection.Dial(ctx, cfg)
	if verbosity >= 4 {
		log.printf("<%s> SSH: connected in %s (error: %v)", cfg.Name, time.Since(t0).Round(time.Millisecond), err)
	}
	if err != nil || verbosity < 3 {
		return c, err
	}
	return &loggedConn{Conn: c, name: cfg.Name, log: log}, nil
}

// loggedConn logs what is sent to a host (-vvv).
type loggedConn struct {
	connection.Conn
	name string
	log  *debugLog
}

func (c *loggedConn) Run(ctx context.Context, cmd string, o connection.RunOpts) (*connection.RunResult, error) {
	c.log.printf("<%s> EXEC (become %v): %s", c.name, o.Become, cmd)
	r, err := c.Conn.Run(ctx, cmd, o)
	if r != nil {
		c.log.printf("<%s> exit %d", c.name, r.ExitCode)
	}
	return r, err
}

func (c *loggedConn) ReadFile(ctx context.Context, path string, become bool) ([]byte, error) {
	c.log.printf("<%s> READ %s", c.name, path)
	return c.Conn.ReadFile(ctx, path, become)
}

func (c *loggedConn) WriteFile(ctx context.Context, path string, data []byte, o connection.WriteOpts) error {
	c.log.printf("<%s> WRITE %s (%d bytes)", c.name, path, len(data))
	return c.Conn.WriteFile(ctx, path, data, o)
}
