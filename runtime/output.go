package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// StepInfo identifies a step for reporters.
type StepInfo struct {
	Task   string
	Module string
	Hosts  int
}

// Reporter receives a run's events. Calls may come from several goroutines
// (HostDone); implementations serialise their own output. Every string has
// been redacted before it reaches a reporter.
type Reporter interface {
	StepStart(StepInfo)
	HostDone(StepInfo, *HostResult)
	StepEnd(StepInfo)
	Print(msg string)
	Recap(map[string]Counts, time.Duration)
}

// JSONReporter writes one JSON object per line.
type JSONReporter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONReporter reports to w.
func NewJSONReporter(w io.Writer) *JSONReporter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONReporter{enc: enc}
}

func (j *JSONReporter) emit(v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(v)
}

// The lines of --output json, one type per "event"; cmd/swarmrun/e2e and
// cmd/swarmrun-bench read them. Fields are in key order, as a map's would
// be printed.
type (
	StepEvent struct {
		Event  string `json:"event"` // "step"
		Hosts  int    `json:"hosts"`
		Module string `json:"module"`
		Task   string `json:"task"`
	}
	ResultEvent struct {
		Changes []string `json:"changes,omitempty"` // the module's change list (modules/kit.go)
		Diff    string   `json:"diff,omitempty"`
		Event   string   `json:"event"` // "result"
		Host    string   `json:"host"`
		Ignored bool     `json:"ignored,omitempty"`
		Module  string   `json:"module"`
		Msg     string   `json:"msg"`
		Status  string   `json:"status"`
		Task    string   `json:"task"`
	}
	PrintEvent struct {
		Event string `json:"event"` // "print"
		Msg   string `json:"msg"`
	}
	RecapEvent struct {
		Event   string            `json:"event"` // "recap"
		Hosts   map[string]Counts `json:"hosts"`
		Seconds float64           `json:"seconds"`
	}
)

func (j *JSONReporter) StepStart(s StepInfo) {
	j.emit(StepEvent{Event: "step", Task: s.Task, Module: s.Module, Hosts: s.Hosts})
}

func (j *JSONReporter) HostDone(s StepInfo, r *HostResult) {
	j.emit(ResultEvent{Event: "result", Task: s.Task, Host: r.host.name, Module: s.Module,
		Status: string(r.Status), Msg: r.Msg, Diff: r.Diff, Ignored: r.Ignored, Changes: r.Changes})
}

func (j *JSONReporter) StepEnd(StepInfo) {}

func (j *JSONReporter) Print(msg string) { j.emit(PrintEvent{Event: "print", Msg: msg}) }

func (j *JSONReporter) Recap(c map[string]Counts, d time.Duration) {
	j.emit(RecapEvent{Event: "recap", Hosts: c, Seconds: d.Seconds()})
}

// HumanReporter prints in the style of Ansible: a header per step, a line
// per host, a recap. On a terminal it uses colours and keeps a progress
// line while a step runs.
type HumanReporter struct {
	mu       sync.Mutex
	w        io.Writer
	color    bool
	verbose  bool
	showDiff bool
	done     int
	total    int
	progress bool
	// Verbosity >= 2 shows modules' stdout/stderr under each host line.
	Verbosity int
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// NewHumanReporter reports to w; tty enables colours and progress.
func NewHumanReporter(w io.Writer, tty, diff, verbose bool) *HumanReporter {
	return &HumanReporter{w: w, color: tty, progress: tty, showDiff: diff, verbose: verbose}
}

const (
	cReset  = "\033[0m"
	cGreen  = "\033[32m"
	cYellow = "\033[33m"
	cRed    = "\033[31m"
	cCyan   = "\033[36m"
	cGray   = "\033[90m"
	cBold   = "\033[1m"
)

func (h *HumanReporter) paint(color, s string) string {
	if !h.color {
		return s
	}
	return color + s + cReset
}

func (h *HumanReporter) clearProgress() {
	if h.progress && h.total > 0 {
		fmt.Fprint(h.w, "\r\033[K")
	}
}

func (h *HumanReporter) StepStart(s StepInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	title := fmt.Sprintf("TASK [%s] ", s.Task)
	if n := 78 - len(title); n > 0 {
		title += strings.Repeat("*", n)
	}
	fmt.Fprintf(h.w, "\n%s\n", h.paint(cBold, title))
	h.done, h.total = 0, s.Hosts
	h.drawProgress(s)
}

func (h *HumanReporter) drawProgress(s StepInfo) {
	if h.progress && h.total > 0 && h.done < h.total {
		fmt.Fprint(h.w, h.paint(cGray, fmt.Sprintf("  … %d/%d hosts done", h.done, h.total)))
	}
}

func (h *HumanReporter) HostDone(s StepInfo, r *HostResult) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clearProgress()
	h.done++
	name := r.host.name
	switch r.Status {
	case StatusOK:
		msg := r.Msg
		if !h.verbose {
			msg = ""
		}
		h.hostLine(cGreen, "ok", name, msg)
	case StatusChanged:
		h.hostLine(cYellow, "changed", name, r.Msg)
	case StatusSkipped:
		h.hostLine(cCyan, "skipping", name, r.Msg)
	case StatusFailed:
		if r.Ignored {
			fmt.Fprintln(h.w, h.paint(cRed, fmt.Sprintf("failed: [%s]: %s", name, r.Msg)))
			fmt.Fprintln(h.w, h.paint(cCyan, "...ignoring"))
		} else {
			fmt.Fprintln(h.w, h.paint(cRed, fmt.Sprintf("fatal: [%s]: FAILED! %s", name, r.Msg)))
		}
	case StatusUnreachable:
		fmt.Fprintln(h.w, h.paint(cRed, fmt.Sprintf("fatal: [%s]: UNREACHABLE! %s", name, r.Msg)))
	}
	if h.showDiff && r.Diff != "" {
		fmt.Fprintln(h.w, h.colorDiff(r.Diff))
	}
	if h.Verbosity >= 2 && r.Detail != "" {
		fmt.Fprint(h.w, h.paint(cGray, indent(r.Detail)))
	}
	h.drawProgress(s)
}

// hostLine prints "word: [name] msg" (without msg when it is empty).
func (h *HumanReporter) hostLine(color, word, name, msg string) {
	line := fmt.Sprintf("%s: [%s]", word, name)
	if msg != "" {
		line += " " + msg
	}
	fmt.Fprintln(h.w, h.paint(color, line))
}

func (h *HumanReporter) colorDiff(d string) string {
	if !h.color {
		return strings.TrimRight(d, "\n")
	}
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "+"):
			lines[i] = cGreen + l + cReset
		case strings.HasPrefix(l, "-"):
			lines[i] = cRed + l + cReset
		}
	}
	return strings.Join(lines, "\n")
}

func (h *HumanReporter) StepEnd(StepInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clearProgress()
	h.total = 0
}

func (h *HumanReporter) Print(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintln(h.w, msg)
}

func (h *HumanReporter) Recap(c map[string]Counts, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	title := "PLAY RECAP "
	fmt.Fprintf(h.w, "\n%s\n", h.paint(cBold, title+strings.Repeat("*", 78-len(title))))
	width := 0
	for n := range c {
		if len(n) > width {
			width = len(n)
		}
	}
	for _, n := range sortedHostNames(c) {
		k := c[n]
		color := cGreen
		switch {
		case k.Failed > 0 || k.Unreachable > 0:
			color = cRed
		case k.Changed > 0:
			color = cYellow
		}
		fmt.Fprintf(h.w, "%s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d ignored=%d\n",
			h.paint(color, fmt.Sprintf("%-*s", width, n)), k.OK, k.Changed, k.Unreachable, k.Failed, k.Skipped, k.Ignored)
	}
	noun := "hosts"
	if len(c) == 1 {
		noun = "host"
	}
	fmt.Fprintf(h.w, "\n%d %s in %.1fs\n", len(c), noun, d.Seconds())
}
