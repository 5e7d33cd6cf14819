package modules

import "testing"

func TestRegistryWith(t *testing.T) {
	a, b := &Module{Name: "a"}, &Module{Name: "b"}
	r := NewRegistry(a)
	a2 := &Module{Name: "a", Doc: "replaced"}
	w := r.With(a2, b)
	if m, _ := w.Get("a"); m != a2 {
		t.Errorf("With did not replace a")
	}
	if all := w.All(); len(all) != 2 || all[0] != a2 || all[1] != b {
		t.Errorf("All: %v", all)
	}
	if m, _ := r.Get("a"); m != a {
		t.Errorf("With changed the original")
	}
	if _, ok := r.Get("b"); ok {
		t.Errorf("With added to the original")
	}
	defer func() {
		if recover() == nil {
			t.Error("a duplicate Register must panic")
		}
	}()
	r.Register(&Module{Name: "a"})
}

func TestDefaultHoldsBuiltins(t *testing.T) {
	for _, n := range []string{"apt", "facts", "file", "swarm_init"} {
		if _, ok := Get(n); !ok {
			t.Errorf("%s is not in Default", n)
		}
	}
}
