// Package kittest is the module kit's conformance check, shared by the
// tests of modules and modules/stack (it cannot import modules: those
// tests live inside it, so results come in as an Outcome).
//
// Every module runs --check and then for real on a fixture; both must
// report the same change list in the one wording of modules/kit.go, check
// mode must leave the host as it was, and a second run must change nothing.
package kittest

import (
	"reflect"
	"strings"
	"testing"
)

// Outcome is what a module reported (modules.Result's reporting fields).
type Outcome struct {
	Changed bool
	Changes []string
	Msg     string
	Diff    string
}

// Runner runs a module once on its fixture, in check mode or for real;
// Touched says what the host looks like, so a check run can be shown to
// change nothing.
type Runner struct {
	Run     func(check bool) (Outcome, error)
	Touched func() any
	// EveryRun: the module changes something on every run (reboot), so a
	// second run is not checked for no change.
	EveryRun bool
}

// Conform checks a module that changes something on its fixture.
func Conform(t *testing.T, r Runner) {
	t.Helper()
	check := untouched(t, r, true, "check mode")
	real := mustRun(t, r, false)
	if !check.Changed || !real.Changed || len(real.Changes) == 0 {
		t.Fatalf("the fixture must change something: check %+v, real %+v", check, real)
	}
	if !reflect.DeepEqual(check.Changes, real.Changes) {
		t.Errorf("check reports %q, the real run %q", check.Changes, real.Changes)
	}
	t.Logf("check: %q; real: %q", check.Msg, real.Msg)
	list := strings.Join(real.Changes, ", ")
	if !Wording(real.Msg, list) || !Wording(check.Msg, "would "+list) {
		t.Errorf("wording: check %q, real %q, changes %q", check.Msg, real.Msg, real.Changes)
	}
	if check.Diff != real.Diff {
		t.Errorf("check diff %q != real diff %q", check.Diff, real.Diff)
	}
	if r.EveryRun {
		return
	}
	for _, c := range []bool{false, true} {
		again, err := r.Run(c)
		if err != nil || again.Changed || len(again.Changes) != 0 {
			t.Errorf("again (check=%v): %+v %v", c, again, err)
		}
	}
}

// Wording says whether msg is the gate's message for the change list: the
// list, then optionally "; " and notes.
func Wording(msg, list string) bool {
	return msg == list || strings.HasPrefix(msg, list+"; ")
}

// ReadOnly checks a module that never changes anything (a probe, a guard, a
// fact gatherer): check mode and a real run report no change, the same
// message, and leave the host as it was.
func ReadOnly(t *testing.T, r Runner) {
	t.Helper()
	check := untouched(t, r, true, "check mode")
	real := untouched(t, r, false, "a read-only module")
	if check.Changed || real.Changed || len(check.Changes)+len(real.Changes) != 0 {
		t.Errorf("a read-only module reports changes: check %+v, real %+v", check, real)
	}
	if check.Msg != real.Msg {
		t.Errorf("check says %q, the real run %q", check.Msg, real.Msg)
	}
}

// mustRun runs once; an error ends the test.
func mustRun(t *testing.T, r Runner, check bool) Outcome {
	t.Helper()
	o, err := r.Run(check)
	if err != nil {
		t.Fatalf("check=%v: %v", check, err)
	}
	return o
}

// untouched runs once and fails the test, naming who, if the host changed.
func untouched(t *testing.T, r Runner, check bool, who string) Outcome {
	t.Helper()
	before := r.Touched()
	o := mustRun(t, r, check)
	if after := r.Touched(); !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed the host:\nbefore %v\nafter  %v", who, before, after)
	}
	return o
}
