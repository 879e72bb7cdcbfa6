package clbsim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLoadStateFile(t *testing.T) {
	s := fixture(t)
	if got, want := s.Count(), (Counts{LoadBalancers: 2, Listeners: 3, Rules: 2, Targets: 8}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if _, err := LoadStateFile("testdata/nothere.json"); err == nil {
		t.Error("loaded a missing file")
	}
}

func TestReadStateRejects(t *testing.T) {
	lb := func(listeners string) string {
		return `{"LoadBalancers": [{"LoadBalancerId": "lb-test0001", "Listeners": [` + listeners + `]}]}`
	}
	const target = `{"InstanceId": "ins-aaaa0001", "Port": 80, "Weight": 10}`
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadState(strings.NewReader(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadState: %v, want an error about %q", err, tc.want)
			}
			if err == nil {
				return
			}
			if _, err := New(Config{State: mustDecode(tc.json)}); err == nil && tc.name != "unknown field" {
				t.Errorf("New accepted it")
			}
		})
	}
}

// mustDecode decodes a State without checking it.
func mustDecode(s string) State {
	var st State
	_ = json.Unmarshal([]byte(s), &st)
	return st
}
