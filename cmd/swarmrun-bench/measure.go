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

// Memory: every 20 ms the bench walks its own process tree
// (/proc/PID/task/*/children, recursively) and reads each process's VmRSS
// and VmHWM (/proc/PID/status). Reported is the larger of
//
//   - the peak of the summed VmRSS over the tree (what the run holds at
//     once: the tool, Ansible's forks, every ssh, and OpenSSH ControlPersist
//     masters, which daemonize but stay in the tree because the bench makes
//     itself a child subreaper (PR_SET_CHILD_SUBREAPER) once the lab is up);
//   - the largest VmHWM (the kernel's peak RSS of one process) seen: for a
//     single process such as swarmrun this is exact up to the last 20 ms.
//
// RSS counts pages shared between processes once per process, so for
// Ansible's forked Python workers the sum is an upper bound. getrusage's
// ru_maxrss is not used: Go starts children with vfork, and the kernel
// carries the parent's high-water mark into the child at exec.

// Measure is one measured process run.
type Measure struct {
	Wall     time.Duration
	PeakSum  int64 // bytes: peak of sampled tree RSS sums
	MaxRSS   int64 // bytes: largest VmHWM of one process of the tree
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

// memory returns a process's VmRSS and VmHWM in bytes (0 if gone).
func memory(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		if k == "VmRSS" {
			rss = n * 1024
		} else {
			hwm = n * 1024
		}
	}
	return rss, hwm
}

// treeMemory sums the RSS of every descendant of the bench process and
// returns the largest high-water mark among them.
func treeMemory() (sum, maxHWM int64) {
	for _, p := range descendants(os.Getpid()) {
		r, h := memory(p)
		sum += r
		maxHWM = max(maxHWM, h)
	}
	return sum, maxHWM
}

// comm returns a process's command name.
func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
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
	var kids []int
	for _, c := range children(os.Getpid()) {
		if comm(c) == "ssh" {
			kids = append(kids, c)
		}
	}
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
			s, h := treeMemory()
			m.PeakSum, m.MaxRSS = max(m.PeakSum, s), max(m.MaxRSS, h)
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
