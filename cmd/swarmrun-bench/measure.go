package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Memory is measured two ways and the larger is reported:
//
//   - rss sum: every 20 ms the bench walks its own process tree
//     (/proc/PID/task/*/children, recursively) and sums VmRSS
//     (/proc/PID/statm) over every process in it; the peak of these sums.
//     The bench makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so
//     OpenSSH ControlPersist masters, which daemonize, stay in its tree and
//     are counted. RSS counts shared pages once per process, so for
//     Ansible's forked Python workers the sum is an upper bound.
//   - maxrss: the kernel's peak RSS of the largest descendant
//     (getrusage RUSAGE_CHILDREN via wait4); exact for a single process such
//     as swarmrun, whose peak a 20 ms sample could miss.

// Measure is one measured process run.
type Measure struct {
	Wall     time.Duration
	PeakSum  int64 // bytes: peak of sampled tree RSS sums
	MaxRSS   int64 // bytes: rusage max RSS of the largest descendant
	ExitCode int
	Stdout   []byte
	Stderr   []byte
}

// PeakBytes is the memory figure reported.
func (m *Measure) PeakBytes() int64 { return max(m.PeakSum, m.MaxRSS) }

const prSetChildSubreaper = 36

func becomeSubreaper() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

var pageSize = int64(os.Getpagesize())

// children lists the direct children of pid.
func children(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// descendants lists every process below pid (not pid itself).
func descendants(pid int) []int {
	var out []int
	queue := children(pid)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children(p)...)
	}
	return out
}

// rss returns a process's resident set size in bytes (0 if gone).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n * pageSize
}

// treeRSS sums the RSS of every descendant of the bench process.
func treeRSS() int64 {
	var sum int64
	for _, p := range descendants(os.Getpid()) {
		sum += rss(p)
	}
	return sum
}

// procState returns the state letter of a process ("Z" for a zombie).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// reapOrphans waits for zombie children that are not skip: processes
// re-parented to the bench (it is a subreaper) that have exited.
func reapOrphans(skip int) {
	for _, c := range children(os.Getpid()) {
		if c != skip && procState(c) == "Z" {
			var ws syscall.WaitStatus
			syscall.Wait4(c, &ws, syscall.WNOHANG, nil)
		}
	}
}

// killOrphans ends the processes the bench adopted as subreaper (OpenSSH
// ControlPersist masters of earlier Ansible runs), by PID, and reaps them,
// so that the next run starts with no open SSH connection.
func killOrphans() {
	kids := children(os.Getpid())
	for _, c := range kids {
		syscall.Kill(c, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, c := range kids {
		for {
			var ws syscall.WaitStatus
			p, err := syscall.Wait4(c, &ws, syscall.WNOHANG, nil)
			if p == c || err != nil {
				break
			}
			if time.Now().After(deadline) {
				syscall.Kill(c, syscall.SIGKILL)
				deadline = time.Now().Add(time.Second)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// run starts argv with env added to the bench's environment, samples its
// memory, and returns when it exits (or ctx ends).
func run(ctx context.Context, dir string, env []string, argv ...string) (*Measure, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	m := &Measure{}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if s := treeRSS(); s > m.PeakSum {
				m.PeakSum = s
			}
			reapOrphans(pid)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	m.Wall = time.Since(start)
	close(done)
	wg.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.MaxRSS = ru.Maxrss * 1024
	}
	m.Stdout, m.Stderr = stdout.Bytes(), stderr.Bytes()
	m.ExitCode = cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		return m, fmt.Errorf("%s: %w", argv[0], ctx.Err())
	}
	if _, ok := err.(*exec.ExitError); ok {
		err = nil
	}
	return m, err
}
