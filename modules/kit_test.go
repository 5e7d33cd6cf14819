package modules

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestKitGate(t *testing.T) {
	var ran []string
	plan := func() *Plan {
		p := NewPlan("demo", "nothing to do")
		p.Add("write /etc/a", "-old\n+new", func(context.Context) error { ran = append(ran, "a"); return nil })
		p.Add("set x live", "", func(context.Context) error { ran = append(ran, "x"); return nil })
		return p
	}
	ctx := context.Background()
	r, err := plan().Apply(ctx, &Target{Check: true, Diff: true}, nil)
	if err != nil || !r.Changed || r.Msg != "would write /etc/a, set x live" || len(ran) != 0 {
		t.Fatalf("check: %+v %v ran=%v", r, err, ran)
	}
	if r.Diff != "-old\n+new\n" {
		t.Errorf("diff %q", r.Diff)
	}
	r2, err := plan().Apply(ctx, &Target{}, &Result{Outputs: map[string]any{"k": 1}})
	if err != nil || r2.Msg != "write /etc/a, set x live" || r2.Diff != "" || r2.Outputs["k"] != 1 {
		t.Fatalf("real: %+v %v", r2, err)
	}
	if !reflect.DeepEqual(ran, []string{"a", "x"}) || !reflect.DeepEqual(r.Changes, r2.Changes) {
		t.Errorf("ran %v, changes %v vs %v", ran, r.Changes, r2.Changes)
	}

	empty := NewPlan("demo", "nothing to do")
	empty.Note("assuming b exists")
	r, _ = empty.Apply(ctx, &Target{}, nil)
	if r.Changed || r.Msg != "nothing to do; assuming b exists" {
		t.Errorf("empty: %+v", r)
	}

	// The first error stops the run and names the module and the change.
	ran = nil
	bad := NewPlan("demo", "")
	bad.Add("write /etc/a", "", func(context.Context) error { return errors.New("disk full") })
	bad.Add("set x live", "", func(context.Context) error { ran = append(ran, "x"); return nil })
	if _, err := bad.Apply(ctx, &Target{}, nil); err == nil || err.Error() != "demo: write /etc/a: disk full" || len(ran) != 0 {
		t.Errorf("error %v, ran %v", err, ran)
	}
	if err := bad.Errorf("reading %s: %w", "x", errors.New("gone")); !strings.HasPrefix(err.Error(), "demo: reading x: gone") {
		t.Errorf("Errorf: %v", err)
	}
}
