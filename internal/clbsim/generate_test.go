package clbsim

import (
	"reflect"
	"testing"

	"github.com/clbdrain/clbdrain/internal/clb"
)

func TestParseGenerateSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want GenerateSpec
	}{
		{"lbs=2,listeners=2,l7=1,rules=2,targets=60", GenerateSpec{LoadBalancers: 2, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60}},
		{"", DefaultGenerateSpec},
		{"targets=100, eni=0.25", GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 100, ENI: 0.25}},
		{"listeners=0", GenerateSpec{LoadBalancers: 1, Rules: 2, Targets: 20}},
	} {
		got, err := ParseGenerateSpec(tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("ParseGenerateSpec(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
		if again, err := ParseGenerateSpec(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %+v, %v", got.String(), again, err)
		}
	}
	for _, bad := range []string{"lbs", "lbs=two", "pools=1", "listeners=1,l7=2", "eni=2", "targets=-1", "lbs=1001", "targets=10000,lbs=1000", "listeners=1000,l7=1000,rules=1000"} {
		if _, err := ParseGenerateSpec(bad); err == nil {
			t.Errorf("ParseGenerateSpec(%q) accepted", bad)
		}
	}
}

func TestGenerate(t *testing.T) {
	spec := GenerateSpec{LoadBalancers: 3, Listeners: 4, Layer7: 2, Rules: 3, Targets: 50, ENI: 0.3}
	a, err := Generate(spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(spec, 7)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave two fleets")
	}
	if c, _ := Generate(spec, 8); reflect.DeepEqual(a, c) {
		t.Error("another seed gave the same fleet")
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	// 3 × (2 layer-4 listeners + 2 × 3 rules) × 50 targets.
	if got, want := a.Count(), (Counts{LoadBalancers: 3, Listeners: 12, Rules: 18, Targets: 1200}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	var eni, cvm int
	for _, lb := range a.LoadBalancers {
		for i, l := range lb.Listeners {
			if layer7 := i >= 2; layer7 != clb.IsLayer7(l.Protocol) {
				t.Errorf("listener %d is %s", i, l.Protocol)
			}
		}
		for _, b := range lb.Listeners[0].Targets {
			switch b.Type {
			case TypeENI:
				eni++
			case TypeCVM:
				cvm++
			}
		}
	}
	if eni < 20 || cvm < 80 {
		t.Errorf("%d ENI and %d CVM servers for a share of 0.3 of 150", eni, cvm)
	}
	if _, err := New(Config{State: a}); err != nil {
		t.Error(err)
	}
	if _, err := Generate(GenerateSpec{Listeners: 1, Layer7: 2}, 1); err == nil {
		t.Error("generated more layer-7 listeners than listeners")
	}
}
