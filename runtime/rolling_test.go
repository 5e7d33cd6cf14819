package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestBatchSizes(t *testing.T) {
	cases := []struct {
		spec  starlark.Value
		total int
		want  []int
		err   string
	}{
		{starlark.MakeInt(1), 4, []int{1}, ""},
		{starlark.String("30%"), 10, []int{3}, ""},
		{starlark.String("30%"), 2, []int{1}, ""}, // at least one host
		{starlark.String("2"), 5, []int{2}, ""},
		{starlark.NewList([]starlark.Value{starlark.MakeInt(1), starlark.String("50%")}), 4, []int{1, 2}, ""},
		{starlark.MakeInt(0), 4, nil, "positive int"},
		{starlark.String("150%"), 4, nil, "percentage"},
		{starlark.String("x"), 4, nil, "percentage"},
		{starlark.NewList(nil), 4, nil, "at least one"},
	}
	for _, c := range cases {
		got, err := batchSizes(c.spec, c.total)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s of %d: %v %v, want %v", c.spec, c.total, got, err, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s of %d: %v, want %v", c.spec, c.total, got, c.want)
			}
		}
	}
}

func TestGroupBatches(t *testing.T) {
	r := play(t, context.Background(), `
b = hosts("all").batches(1, "50%")
got = [g.names for g in b]
if got != [["h1"], ["h2", "h3"], ["h4"]]:
    fail("batches(1, 50%%):", got)
if [g.names for g in hosts("all").batches()] != [["h1"], ["h2"], ["h3"], ["h4"]]:
    fail("batches() is one host at a time")
`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
}

// rolling() calls fn batch by batch, prints each batch, and stops before
// the next batch once a batch failed beyond max_fail_percentage.
func TestRolling(t *testing.T) {
	src := `
seen = []
def step(batch):
    seen.append(batch.names)
    t_set(batch, name = "work", fail = ["h2"])
rolling(hosts("all"), step, batch = [1, 2], name = "upgrade", max_fail_percentage = MAXFAIL)
`
	r := play(t, context.Background(), strings.Replace(src, "MAXFAIL", "0", 1), Options{}, nil)
	if !errors.Is(r.err, ErrMaxFail) || !strings.Contains(r.err.Error(), "upgrade: 1 of 2 hosts of batch 2/3 failed") {
		t.Fatalf("err = %v", r.err)
	}
	if got := r.results(""); len(got) != 3 || got[0] != "work/h1" || strings.Contains(strings.Join(got, " "), "h4") {
		t.Errorf("results = %v: the third batch (h4) must not start", got)
	}
	var prints []string
	for _, ev := range r.events {
		if ev["event"] == "print" {
			prints = append(prints, ev["msg"].(string))
		}
	}
	if strings.Join(prints, "|") != "upgrade: batch 1/3: h1|upgrade: batch 2/3: h2, h3" {
		t.Errorf("prints = %q", prints)
	}

	// 50% of the failing batch is tolerated: every batch runs.
	r = play(t, context.Background(), strings.Replace(src, "MAXFAIL", "50", 1), Options{}, nil)
	if r.err != nil || len(r.results("")) != 4 {
		t.Errorf("max_fail_percentage 50: err %v, results %v", r.err, r.results(""))
	}

	// Under --check the batches are shown the same way.
	r = play(t, context.Background(), `rolling(hosts("all"), lambda b: t_set(b), batch = "50%")`, Options{Check: true}, nil)
	if r.err != nil || len(r.results("changed")) != 4 {
		t.Fatalf("check: err %v, results %v", r.err, r.results(""))
	}
	n := 0
	for _, ev := range r.events {
		if ev["event"] == "print" && strings.Contains(ev["msg"].(string), "batch ") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("--check printed %d batch lines, want 2", n)
	}
}

func TestRollingErrors(t *testing.T) {
	r := play(t, context.Background(), `rolling(hosts("all"), lambda b: fail("stop at", b.names[0]))`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "stop at h1") {
		t.Errorf("an error in fn stops the run: %v", r.err)
	}
	r = play(t, context.Background(), `rolling(hosts("all"), lambda b: None, batch = "0%")`, Options{}, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "rolling: batch size") {
		t.Errorf("bad batch: %v", r.err)
	}
}

func TestGroupArithmeticWithHostsAndLists(t *testing.T) {
	r := play(t, context.Background(), `
all = hosts("all")
if (all - all[0]).names != ["h2", "h3", "h4"]:
    fail("group - host")
if (all - [all[1], all[2]]).names != ["h1", "h4"]:
    fail("group - list")
if (hosts("h4") + [all[0]]).names != ["h4", "h1"]:
    fail("group + list")
if ([all[3]] + hosts("h1")).names != ["h4", "h1"]:
    fail("list + group")
`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
}

func TestHostInGroup(t *testing.T) {
	r := play(t, context.Background(), `
all = hosts("all")
if all[0] not in all or all[0] in hosts("h2") or "h2" not in all or "h9" in all:
    fail("membership")
`, Options{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
}

// A failure on a host outside the batch (the manager a step went through)
// also stops the rolling change.
func TestRollingCountsDelegateFailures(t *testing.T) {
	r := play(t, context.Background(), `
def step(batch):
    t_set(hosts("h4"), name = "guard via h4", fail = ["h4"] if batch[0].name == "h2" else [])
    t_set(batch, name = "work")
rolling(hosts("all") - hosts("h4"), step, name = "r")
`, Options{}, nil)
	if !errors.Is(r.err, ErrMaxFail) || !strings.Contains(r.err.Error(), "batch 2/3") {
		t.Fatalf("err = %v", r.err)
	}
	if strings.Contains(strings.Join(r.results(""), " "), "work/h3") {
		t.Errorf("batch 3 ran: %v", r.results(""))
	}
}
