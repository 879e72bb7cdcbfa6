package clbsim_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestParseGenerateSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want clbsim.GenerateSpec
	}{
		{"lbs=2,listeners=2,l7=1,rules=2,targets=60", clbsim.GenerateSpec{LoadBalancers: 2, Listeners: 2, Layer7: 1, Rules: 2, Targets: 60}},
		{"", clbsim.DefaultGenerateSpec},
		{"targets=100, eni=0.25", clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 100, ENI: 0.25}},
		{"listeners=0", clbsim.GenerateSpec{LoadBalancers: 1, Rules: 2, Targets: 20}},
		{"rst=0.5,idle=300", clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 20, RST: 0.5, IdleConnectTimeout: 300}},
	} {
		got, err := clbsim.ParseGenerateSpec(tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("ParseGenerateSpec(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
		if again, err := clbsim.ParseGenerateSpec(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %+v, %v", got.String(), again, err)
		}
	}
	for _, bad := range []string{"lbs", "lbs=two", "pools=1", "listeners=1,l7=2", "eni=2", "targets=-1", "lbs=1001", "targets=10000,lbs=1000", "listeners=1000,l7=1000,rules=1000", "rst=1.5", "rst=x", "idle=299", "idle=1981"} {
		if _, err := clbsim.ParseGenerateSpec(bad); err == nil {
			t.Errorf("ParseGenerateSpec(%q) accepted", bad)
		}
	}
}

func TestGenerate(t *testing.T) {
	spec := clbsim.GenerateSpec{LoadBalancers: 3, Listeners: 4, Layer7: 2, Rules: 3, Targets: 50, ENI: 0.3}
	a, err := clbsim.Generate(spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := clbsim.Generate(spec, 7)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave two fleets")
	}
	if c, _ := clbsim.Generate(spec, 8); reflect.DeepEqual(a, c) {
		t.Error("another seed gave the same fleet")
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	// 3 × (2 layer-4 listeners + 2 × 3 rules) × 50 targets.
	if got, want := a.Count(), (clbsim.Counts{LoadBalancers: 3, Listeners: 12, Rules: 18, Targets: 1200}); got != want {
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
			case clbsim.TypeENI:
				eni++
			case clbsim.TypeCVM:
				cvm++
			}
		}
	}
	if eni < 20 || cvm < 80 {
		t.Errorf("%d ENI and %d CVM servers for a share of 0.3 of 150", eni, cvm)
	}
	if _, err := clbsim.New(clbsim.Config{State: a}); err != nil {
		t.Error(err)
	}
	if _, err := clbsim.Generate(clbsim.GenerateSpec{Listeners: 1, Layer7: 2}, 1); err == nil {
		t.Error("generated more layer-7 listeners than listeners")
	}
}

func TestGenerateListenerAttributes(t *testing.T) {
	attrs := func(spec clbsim.GenerateSpec) (names []string, rst []bool, idle []int64) {
		t.Helper()
		s, err := clbsim.Generate(spec, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, lb := range s.LoadBalancers {
			for _, l := range lb.Listeners {
				a, ok := lb.ListenerAttributes[l.ListenerId]
				if !ok {
					t.Fatalf("listener %s has no attributes", l.ListenerId)
				}
				names = append(names, a.ListenerName)
				switch {
				case l.Protocol == clb.ProtocolTCP:
					rst, idle = append(rst, *a.DeregisterTargetRst), append(idle, *a.IdleConnectTimeout)
				case a.DeregisterTargetRst != nil || a.IdleConnectTimeout != nil:
					t.Errorf("%s listener with TCP attributes: %+v", l.Protocol, a)
				}
				if (a.SessionExpireTime != nil) == clb.IsLayer7(l.Protocol) {
					t.Errorf("%s listener SessionExpireTime %v", l.Protocol, a.SessionExpireTime)
				}
			}
		}
		return names, rst, idle
	}
	base := clbsim.GenerateSpec{LoadBalancers: 20, Listeners: 4, Layer7: 2, Rules: 1, Targets: 2}
	names, rst, idle := attrs(base)
	if names[0] != "tcp-7000" || names[1] != "udp-7001" || names[2] != "http-80" || names[3] != "https-443" {
		t.Errorf("names %v", names[:4])
	}
	if len(rst) != 20 || slices.Contains(rst, true) || slices.ContainsFunc(idle, func(v int64) bool { return v != clbsim.DefaultIdleConnectTimeout }) {
		t.Errorf("defaults: RST %v, idle %v", rst, idle)
	}
	// A share of 0 draws nothing: the fleet is the one made before rst existed.
	plain, _ := clbsim.Generate(base, 5)
	withZero, _ := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 20, Listeners: 4, Layer7: 2, Rules: 1, Targets: 2, RST: 0}, 5)
	if !reflect.DeepEqual(plain, withZero) {
		t.Error("rst=0 changed the fleet")
	}
	all := base
	all.RST, all.IdleConnectTimeout = 1, 1200
	if _, rst, idle = attrs(all); slices.Contains(rst, false) || slices.ContainsFunc(idle, func(v int64) bool { return v != 1200 }) {
		t.Errorf("rst=1,idle=1200: RST %v, idle %v", rst, idle)
	}
	half := base
	half.RST = 0.5
	_, rst, _ = attrs(half)
	if on := len(slices.DeleteFunc(slices.Clone(rst), func(b bool) bool { return !b })); on < 4 || on > 16 {
		t.Errorf("rst=0.5 turned on %d of 20", on)
	}
	if _, again, _ := attrs(half); !slices.Equal(rst, again) {
		t.Error("rst=0.5 is not reproducible from the seed")
	}
}
