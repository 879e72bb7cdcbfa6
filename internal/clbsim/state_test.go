package clbsim_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

func TestLoadStateFile(t *testing.T) {
	s := fixture(t)
	if got, want := s.Count(), (clbsim.Counts{LoadBalancers: 2, Listeners: 3, Rules: 2, Targets: 8}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if _, err := clbsim.LoadStateFile("testdata/nothere.json"); err == nil {
		t.Error("loaded a missing file")
	}
}

func TestReadStateRejects(t *testing.T) {
	lb := func(listeners string) string {
		return `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001", "Listeners": [` + listeners + `]}]}`
	}
	const target = `{"InstanceId": "ins-aaaa0001", "Port": 80, "Weight": 10}`
	attrs := func(entries string) string {
		return `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001", "Listeners": [
			{"ListenerId": "lbl-tcp00001", "Protocol": "TCP", "Port": 80},
			{"ListenerId": "lbl-udp00001", "Protocol": "UDP", "Port": 53},
			{"ListenerId": "lbl-http0001", "Protocol": "HTTP", "Port": 80}],
			"ListenerAttributes": {` + entries + `}}]}`
	}
	for _, tc := range []struct{ name, json, want string }{
		{"bad lb id", `{"LoadBalancers": [{"LoadBalancerId": "lb-1"}]}`, "load balancer id"},
		{"unknown field", `{"LoadBalancers": [], "Extra": 1}`, "unknown field"},
		{"duplicate lb", `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001"}, {"LoadBalancerId": "lb-test0001"}]}`, "twice"},
		{"bad listener id", lb(`{"ListenerId": "lbl-x", "Protocol": "TCP", "Port": 80}`), "listener id"},
		{"unknown protocol", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "SCTP", "Port": 80}`), "protocol"},
		{"bad port", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 0}`), "port"},
		{"same port twice", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80}, {"ListenerId": "lbl-aaaa0002", "Protocol": "TCP", "Port": 80}`), "second TCP listener"},
		{"layer-7 with targets", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "HTTP", "Port": 80, "Targets": [` + target + `]}`), "layer-7"},
		{"layer-4 with rules", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80, "Rules": [{"LocationId": "loc-aaaa0001", "Domain": "a.example.com", "Url": "/"}]}`), "layer-4"},
		{"rule without url", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "HTTP", "Port": 80, "Rules": [{"LocationId": "loc-aaaa0001", "Domain": "a.example.com"}]}`), "Url"},
		{"rule twice", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "HTTP", "Port": 80, "Rules": [{"LocationId": "loc-aaaa0001", "Domain": "a.example.com", "Url": "/"}, {"LocationId": "loc-aaaa0002", "Domain": "a.example.com", "Url": "/"}]}`), "second rule"},
		{"target twice", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80, "Targets": [` + target + `,` + target + `]}`), "bound twice"},
		{"bad instance", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80, "Targets": [{"Type": "CVM", "InstanceId": "i-1", "Port": 80}]}`), "instance id"},
		{"ENI without address", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80, "Targets": [{"Type": "ENI", "Port": 80}]}`), "ENI"},
		{"bad address", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80, "Targets": [{"PrivateIpAddresses": ["10.0.0"], "Port": 80}]}`), "private IP"},
		{"bad weight", lb(`{"ListenerId": "lbl-aaaa0001", "Protocol": "TCP", "Port": 80, "Targets": [{"InstanceId": "ins-aaaa0001", "Port": 80, "Weight": 101}]}`), "weight"},
		{"attributes of no listener", attrs(`"lbl-nothere1": {"ListenerName": "x"}`), "not a listener of lb-test0001"},
		{"RST on UDP", attrs(`"lbl-udp00001": {"DeregisterTargetRst": false}`), "TCP listeners only, not UDP"},
		{"idle timeout on HTTP", attrs(`"lbl-http0001": {"IdleConnectTimeout": 900}`), "TCP listeners only, not HTTP"},
		{"idle timeout too short", attrs(`"lbl-tcp00001": {"IdleConnectTimeout": 299}`), "IdleConnectTimeout 299 is not 300-1980"},
		{"idle timeout too long", attrs(`"lbl-tcp00001": {"IdleConnectTimeout": 1981}`), "IdleConnectTimeout 1981"},
		{"session time on HTTP", attrs(`"lbl-http0001": {"SessionExpireTime": 30}`), "layer-4 listeners only, not HTTP"},
		{"session time out of range", attrs(`"lbl-udp00001": {"SessionExpireTime": 29}`), "SessionExpireTime 29 is neither 0 nor 30-3600"},
		{"unknown attribute", attrs(`"lbl-tcp00001": {"Scheduler": "WRR"}`), "unknown field"},
		{"bad load balancer type", `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001", "LoadBalancerType": "PUBLIC"}]}`, "neither OPEN nor INTERNAL"},
		{"bad VPC id", `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001", "VpcId": "vpc-1"}]}`, "VpcId"},
		{"bad VIP", `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001", "LoadBalancerVips": ["1.2.3"]}]}`, "not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := clbsim.ReadState(strings.NewReader(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadState: %v, want an error about %q", err, tc.want)
			}
			if err == nil {
				return
			}
			if _, err := clbsim.New(clbsim.Config{State: mustDecode(tc.json)}); err == nil && tc.name != "unknown field" && tc.name != "unknown attribute" {
				t.Errorf("New accepted it")
			}
		})
	}
}

// mustDecode decodes a State without checking it.
func mustDecode(s string) clbsim.State {
	var st clbsim.State
	_ = json.Unmarshal([]byte(s), &st)
	return st
}

func TestListenerAttributesInTheState(t *testing.T) {
	given := fixture(t)
	if a := given.LoadBalancers[0].ListenerAttributes["lbl-tcp00001"]; a.ListenerName != "web-tcp" || a.DeregisterTargetRst == nil || !*a.DeregisterTargetRst ||
		*a.IdleConnectTimeout != 600 || *a.SessionExpireTime != 30 {
		t.Fatalf("fixture attributes = %+v", a)
	}
	srv, err := clbsim.New(clbsim.Config{State: given})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	state := srv.State()
	// Set attributes are kept, defaults are filled in where the protocol
	// has the attribute, and nothing is made up where it has none.
	want := map[string]clbsim.ListenerAttributes{
		"lbl-tcp00001": {ListenerName: "web-tcp", DeregisterTargetRst: ptr(true), IdleConnectTimeout: ptr[int64](600), SessionExpireTime: ptr[int64](30)},
		"lbl-http0001": {ListenerName: "web-http"},
	}
	if got := state.LoadBalancers[0].ListenerAttributes; !reflect.DeepEqual(got, want) {
		t.Errorf("lb-test0001 attributes = %s", mustJSON(got))
	}
	if got := state.LoadBalancers[1].ListenerAttributes; !reflect.DeepEqual(got, map[string]clbsim.ListenerAttributes{"lbl-udp00001": {SessionExpireTime: ptr[int64](0)}}) {
		t.Errorf("lb-test0002 attributes (all defaults) = %s", mustJSON(got))
	}
	bare := clbsim.State{LoadBalancers: []clbsim.LoadBalancer{{LoadBalancerId: "lb-test0003", Listeners: []clb.Listener{{ListenerId: "lbl-tcp00003", Protocol: clb.ProtocolTCP, Port: 80}}}}}
	srv3, err := clbsim.New(clbsim.Config{State: bare})
	if err != nil {
		t.Fatal(err)
	}
	defer srv3.Close()
	if got := srv3.State().LoadBalancers[0].ListenerAttributes["lbl-tcp00003"]; !reflect.DeepEqual(got,
		clbsim.ListenerAttributes{DeregisterTargetRst: ptr(false), IdleConnectTimeout: ptr[int64](clbsim.DefaultIdleConnectTimeout), SessionExpireTime: ptr[int64](0)}) {
		t.Errorf("TCP defaults = %s", mustJSON(got))
	}
	// The state is a copy: changing it changes nothing in the emulator.
	*state.LoadBalancers[0].ListenerAttributes["lbl-tcp00001"].DeregisterTargetRst = false
	*given.LoadBalancers[0].ListenerAttributes["lbl-tcp00001"].IdleConnectTimeout = 300
	if a := srv.State().LoadBalancers[0].ListenerAttributes["lbl-tcp00001"]; !*a.DeregisterTargetRst || *a.IdleConnectTimeout != 600 {
		t.Errorf("the emulator shares the attributes of its input or output: %s", mustJSON(a))
	}
	if err := state.Check(); err != nil {
		t.Errorf("the state is not a valid fixture: %v", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRequestTargets(t *testing.T) {
	got := clbsim.RequestTargets([]clb.BoundTarget{
		{Type: "CVM", InstanceId: "ins-aaaa0001", PrivateIpAddresses: []string{"10.0.0.1"}, Port: 80},
		{PrivateIpAddresses: []string{"fd00::5"}, Port: 81},
		{Type: "eni", PrivateIpAddresses: []string{"10.0.0.9"}, Port: 82},
		{Type: "ENI", PrivateIpAddresses: []string{"10.0.0.10", "10.0.0.11"}, Port: 83},
		{Type: "ENI", Port: 84},
	})
	want := []string{"ins-aaaa0001:80", "[fd00::5]:81", "10.0.0.9:82", "10.0.0.10:83", ":84"}
	if len(got) != len(want) {
		t.Fatalf("RequestTargets = %v", got)
	}
	for i, tg := range got {
		if tg.Key() != want[i] {
			t.Errorf("RequestTargets[%d] = %q, want %q", i, tg.Key(), want[i])
		}
	}
}
