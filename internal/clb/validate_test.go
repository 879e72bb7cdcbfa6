package clb_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
)

const (
	lbReason       = "must be lb- followed by 8 lowercase letters or digits, such as lb-abc12345"
	listenerReason = "must be lbl- followed by 8 lowercase letters or digits, such as lbl-abc12345"
	locationReason = "must be loc- followed by 8 lowercase letters or digits, such as loc-abc12345"
	instanceReason = "must be ins- followed by 8 lowercase letters or digits, such as ins-abc12345"
	ipReason       = "must be an IPv4 or IPv6 address"
	portReason     = "must be 1-65535"
	domainReason   = "must be a host name of at most 255 characters, without spaces or slashes"
	urlReason      = "must be a path starting with / of at most 255 characters, without spaces"
	neitherReason  = "needs exactly one of InstanceId or EniIp, and has neither"
	bothReason     = "needs exactly one of InstanceId or EniIp, and has both"
)

// layer4 is a valid selector that each case below breaks in one place.
var layer4 = clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"}

func selector(edit func(*clb.Selector)) clb.Selector {
	s := layer4
	edit(&s)
	return s
}

func TestValidateSelectorRejects(t *testing.T) {
	longDomain := strings.Repeat("a", 252) + ".com"
	longURL := "/" + strings.Repeat("a", 255)
	tests := []struct {
		name string
		sel  clb.Selector
		want clb.Problem
	}{
		{"no load balancer", selector(func(s *clb.Selector) { s.LoadBalancerId = "" }),
			clb.Problem{Field: "LoadBalancerId", Value: "", Reason: "is required"}},
		{"load balancer upper case", selector(func(s *clb.Selector) { s.LoadBalancerId = "lb-ABC12345" }),
			clb.Problem{Field: "LoadBalancerId", Value: "lb-ABC12345", Reason: lbReason}},
		{"load balancer prefix upper case", selector(func(s *clb.Selector) { s.LoadBalancerId = "LB-abc12345" }),
			clb.Problem{Field: "LoadBalancerId", Value: "LB-abc12345", Reason: lbReason}},
		{"load balancer too short", selector(func(s *clb.Selector) { s.LoadBalancerId = "lb-abc1234" }),
			clb.Problem{Field: "LoadBalancerId", Value: "lb-abc1234", Reason: lbReason}},
		{"load balancer too long", selector(func(s *clb.Selector) { s.LoadBalancerId = "lb-abc123456" }),
			clb.Problem{Field: "LoadBalancerId", Value: "lb-abc123456", Reason: lbReason}},
		{"listener id as load balancer", selector(func(s *clb.Selector) { s.LoadBalancerId = "lbl-abc12345" }),
			clb.Problem{Field: "LoadBalancerId", Value: "lbl-abc12345", Reason: lbReason}},
		{"load balancer with space", selector(func(s *clb.Selector) { s.LoadBalancerId = " lb-abc12345" }),
			clb.Problem{Field: "LoadBalancerId", Value: " lb-abc12345", Reason: lbReason}},
		{"load balancer with underscore", selector(func(s *clb.Selector) { s.LoadBalancerId = "lb-abc_1234" }),
			clb.Problem{Field: "LoadBalancerId", Value: "lb-abc_1234", Reason: lbReason}},
		{"no listener", selector(func(s *clb.Selector) { s.ListenerId = "" }),
			clb.Problem{Field: "ListenerId", Value: "", Reason: "is required"}},
		{"load balancer id as listener", selector(func(s *clb.Selector) { s.ListenerId = "lb-abc12345" }),
			clb.Problem{Field: "ListenerId", Value: "lb-abc12345", Reason: listenerReason}},
		{"listener too short", selector(func(s *clb.Selector) { s.ListenerId = "lbl-abc1234" }),
			clb.Problem{Field: "ListenerId", Value: "lbl-abc1234", Reason: listenerReason}},
		{"listener upper case", selector(func(s *clb.Selector) { s.ListenerId = "lbl-ABC12345" }),
			clb.Problem{Field: "ListenerId", Value: "lbl-ABC12345", Reason: listenerReason}},
		{"location too short", selector(func(s *clb.Selector) { s.LocationId = "loc-abc1234" }),
			clb.Problem{Field: "LocationId", Value: "loc-abc1234", Reason: locationReason}},
		{"listener id as location", selector(func(s *clb.Selector) { s.LocationId = "lbl-abc12345" }),
			clb.Problem{Field: "LocationId", Value: "lbl-abc12345", Reason: locationReason}},
		{"location upper case", selector(func(s *clb.Selector) { s.LocationId = "LOC-abc12345" }),
			clb.Problem{Field: "LocationId", Value: "LOC-abc12345", Reason: locationReason}},
		{"domain without url", selector(func(s *clb.Selector) { s.Domain = "www.example.com" }),
			clb.Problem{Field: "Url", Value: "", Reason: `is required with Domain "www.example.com" (a rule is named by Domain and Url together)`}},
		{"url without domain", selector(func(s *clb.Selector) { s.Url = "/api" }),
			clb.Problem{Field: "Domain", Value: "", Reason: `is required with Url "/api" (a rule is named by Domain and Url together)`}},
		{"url without slash", selector(func(s *clb.Selector) { s.Domain, s.Url = "www.example.com", "api" }),
			clb.Problem{Field: "Url", Value: "api", Reason: urlReason}},
		{"url with space", selector(func(s *clb.Selector) { s.Domain, s.Url = "www.example.com", "/a b" }),
			clb.Problem{Field: "Url", Value: "/a b", Reason: urlReason}},
		{"url too long", selector(func(s *clb.Selector) { s.Domain, s.Url = "www.example.com", longURL }),
			clb.Problem{Field: "Url", Value: longURL, Reason: urlReason}},
		{"domain with path", selector(func(s *clb.Selector) { s.Domain, s.Url = "www.example.com/api", "/api" }),
			clb.Problem{Field: "Domain", Value: "www.example.com/api", Reason: domainReason}},
		{"domain with space", selector(func(s *clb.Selector) { s.Domain, s.Url = "www example.com", "/" }),
			clb.Problem{Field: "Domain", Value: "www example.com", Reason: domainReason}},
		{"domain too long", selector(func(s *clb.Selector) { s.Domain, s.Url = longDomain, "/" }),
			clb.Problem{Field: "Domain", Value: longDomain, Reason: domainReason}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, []clb.Problem{tt.want}, clb.ValidateSelector(tt.sel))
		})
	}
}

func TestValidateSelectorAccepts(t *testing.T) {
	for _, sel := range []clb.Selector{
		layer4,
		{LoadBalancerId: "lb-00000000", ListenerId: "lbl-zzzzzzzz"},
		{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", LocationId: "loc-abc12345"},
		{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", Domain: "www.example.com", Url: "/"},
		{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", Domain: "*.example.com", Url: "/api/v1?x=1"},
		{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", Domain: strings.Repeat("a", 251) + ".com", Url: "/" + strings.Repeat("a", 254)},
		// LocationId wins over Domain and Url, as in the API; both are sent.
		{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", LocationId: "loc-abc12345", Domain: "www.example.com", Url: "/api"},
	} {
		assert.Empty(t, clb.ValidateSelector(sel), sel.String())
	}
}

func TestValidateTargetRejects(t *testing.T) {
	tests := []struct {
		name   string
		target clb.Target
		want   clb.Problem
	}{
		{"neither", clb.Target{Port: 80},
			clb.Problem{Field: "Targets[0]", Value: ":80", Reason: neitherReason}},
		{"both", clb.Target{InstanceId: "ins-abc12345", EniIp: "10.0.0.5", Port: 80},
			clb.Problem{Field: "Targets[0]", Value: "ins-abc12345 and 10.0.0.5", Reason: bothReason}},
		{"instance too short", clb.Target{InstanceId: "ins-abc1234", Port: 80},
			clb.Problem{Field: "Targets[0].InstanceId", Value: "ins-abc1234", Reason: instanceReason}},
		{"instance upper case", clb.Target{InstanceId: "INS-abc12345", Port: 80},
			clb.Problem{Field: "Targets[0].InstanceId", Value: "INS-abc12345", Reason: instanceReason}},
		{"instance other prefix", clb.Target{InstanceId: "i-abc12345", Port: 80},
			clb.Problem{Field: "Targets[0].InstanceId", Value: "i-abc12345", Reason: instanceReason}},
		{"instance too long", clb.Target{InstanceId: "ins-abc123456", Port: 80},
			clb.Problem{Field: "Targets[0].InstanceId", Value: "ins-abc123456", Reason: instanceReason}},
		{"ip octet over 255", clb.Target{EniIp: "10.0.0.256", Port: 80},
			clb.Problem{Field: "Targets[0].EniIp", Value: "10.0.0.256", Reason: ipReason}},
		{"ip three octets", clb.Target{EniIp: "10.0.0", Port: 80},
			clb.Problem{Field: "Targets[0].EniIp", Value: "10.0.0", Reason: ipReason}},
		{"ip with zone", clb.Target{EniIp: "fe80::1%eth0", Port: 80},
			clb.Problem{Field: "Targets[0].EniIp", Value: "fe80::1%eth0", Reason: ipReason}},
		{"host name", clb.Target{EniIp: "web-1.example.com", Port: 80},
			clb.Problem{Field: "Targets[0].EniIp", Value: "web-1.example.com", Reason: ipReason}},
		{"ip with space", clb.Target{EniIp: " 10.0.0.5", Port: 80},
			clb.Problem{Field: "Targets[0].EniIp", Value: " 10.0.0.5", Reason: ipReason}},
		{"ip with port", clb.Target{EniIp: "10.0.0.5:80", Port: 80},
			clb.Problem{Field: "Targets[0].EniIp", Value: "10.0.0.5:80", Reason: ipReason}},
		{"port 0", clb.Target{InstanceId: "ins-abc12345", Port: 0},
			clb.Problem{Field: "Targets[0].Port", Value: "0", Reason: portReason}},
		{"port 65536", clb.Target{InstanceId: "ins-abc12345", Port: 65536},
			clb.Problem{Field: "Targets[0].Port", Value: "65536", Reason: portReason}},
		{"port -1", clb.Target{EniIp: "10.0.0.5", Port: -1},
			clb.Problem{Field: "Targets[0].Port", Value: "-1", Reason: portReason}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, []clb.Problem{tt.want}, clb.ValidateTarget("Targets[0]", tt.target))
		})
	}
}

func TestValidateTargetAccepts(t *testing.T) {
	for _, target := range []clb.Target{
		{InstanceId: "ins-abc12345", Port: 80},
		{InstanceId: "ins-00000000", Port: 1},
		{EniIp: "10.0.0.5", Port: 65535},
		{EniIp: "fd00::5", Port: 8080},
		{EniIp: "2001:db8::1", Port: 443},
		{EniIp: "::ffff:10.0.0.5", Port: 80},
	} {
		assert.Empty(t, clb.ValidateTarget("Targets[0]", target), target.String())
	}
}

func TestValidateTargetsList(t *testing.T) {
	some := func(n int) []clb.Target {
		out := make([]clb.Target, n)
		for i := range out {
			out[i] = clb.Target{EniIp: "10.0.0." + strconv.Itoa(i+1), Port: 80}
		}
		return out
	}
	assert.Equal(t, []clb.Problem{{Field: "Targets", Value: "[]", Reason: "must list at least one target"}},
		clb.ValidateTargets("Targets", nil, 20))
	assert.Equal(t, []clb.Problem{{Field: "Targets", Value: "[]", Reason: "must list at least one target"}},
		clb.ValidateTargets("Targets", []clb.Target{}, 0))
	assert.Equal(t, []clb.Problem{{Field: "Targets", Value: "21 targets", Reason: "must list at most 20 targets"}},
		clb.ValidateTargets("Targets", some(21), clb.MaxTargetsPerCall))
	assert.Empty(t, clb.ValidateTargets("Targets", some(20), clb.MaxTargetsPerCall))
	assert.Empty(t, clb.ValidateTargets("Targets", some(1), clb.MaxTargetsPerCall))
	assert.Empty(t, clb.ValidateTargets("Targets", some(250), 0), "0: no upper bound")

	// Each target is named by its index.
	list := some(3)
	list[2].Port = 0
	assert.Equal(t, []clb.Problem{{Field: "Targets[2].Port", Value: "0", Reason: portReason}},
		clb.ValidateTargets("Targets", list, 20))
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	sel := clb.Selector{LoadBalancerId: "lb-x", ListenerId: "", LocationId: "loc-1", Domain: "a b"}
	assert.Equal(t, []clb.Problem{
		{Field: "LoadBalancerId", Value: "lb-x", Reason: lbReason},
		{Field: "ListenerId", Value: "", Reason: "is required"},
		{Field: "LocationId", Value: "loc-1", Reason: locationReason},
		{Field: "Url", Value: "", Reason: `is required with Domain "a b" (a rule is named by Domain and Url together)`},
		{Field: "Domain", Value: "a b", Reason: domainReason},
	}, clb.ValidateSelector(sel))

	targets := []clb.Target{
		{InstanceId: "ins-bad", Port: 0},
		{Port: 70000},
	}
	assert.Equal(t, []clb.Problem{
		{Field: "Targets", Value: "2 targets", Reason: "must list at most 1 targets"},
		{Field: "Targets[0].InstanceId", Value: "ins-bad", Reason: instanceReason},
		{Field: "Targets[0].Port", Value: "0", Reason: portReason},
		{Field: "Targets[1]", Value: ":70000", Reason: neitherReason},
		{Field: "Targets[1].Port", Value: "70000", Reason: portReason},
	}, clb.ValidateTargets("Targets", targets, 1))
}

func TestValidationError(t *testing.T) {
	assert.NoError(t, clb.Err(nil))
	assert.NoError(t, clb.Err([]clb.Problem{}))

	one := clb.Err([]clb.Problem{{Field: "Targets[3].Port", Value: "70000", Reason: portReason}})
	var ve *clb.ValidationError
	require.ErrorAs(t, one, &ve)
	assert.Len(t, ve.Problems, 1)
	assert.EqualError(t, one, "invalid input: 1 problem\n  - Targets[3].Port = \"70000\": must be 1-65535")

	two := clb.Err(clb.ValidateSelector(clb.Selector{}))
	assert.EqualError(t, two, "invalid input: 2 problems\n"+
		"  - LoadBalancerId = \"\": is required\n"+
		"  - ListenerId = \"\": is required")
}

func TestMergeDuplicates(t *testing.T) {
	in := []clb.Target{
		{InstanceId: "ins-abc12345", Port: 80},
		{EniIp: "10.0.0.5", Port: 80},
		{InstanceId: "ins-abc12345", Port: 80},
		{InstanceId: "ins-abc12345", Port: 81},
		{EniIp: "fd00::5", Port: 80},
		{EniIp: "FD00:0:0::5", Port: 80}, // the same address, written otherwise
		{EniIp: "10.0.0.5", Port: 80},
		{EniIp: "::ffff:10.0.0.5", Port: 80}, // IPv4-mapped: the same address
	}
	out, removed := clb.MergeDuplicates(in)
	assert.Equal(t, 4, removed)
	assert.Equal(t, []clb.Target{
		{InstanceId: "ins-abc12345", Port: 80},
		{EniIp: "10.0.0.5", Port: 80},
		{InstanceId: "ins-abc12345", Port: 81},
		{EniIp: "fd00::5", Port: 80},
	}, out)

	out, removed = clb.MergeDuplicates(nil)
	assert.Empty(t, out)
	assert.Zero(t, removed)
}

func TestTargetKey(t *testing.T) {
	tests := []struct {
		target clb.Target
		key    string
	}{
		{clb.Target{InstanceId: "ins-abc12345", Port: 80}, "ins-abc12345:80"},
		{clb.Target{EniIp: "10.0.0.5", Port: 8080}, "10.0.0.5:8080"},
		{clb.Target{EniIp: "fd00::5", Port: 8080}, "[fd00::5]:8080"},
		{clb.Target{EniIp: "FD00:0000::0005", Port: 8080}, "[fd00::5]:8080"},
		{clb.Target{EniIp: "::ffff:10.0.0.5", Port: 80}, "10.0.0.5:80"},
		{clb.Target{EniIp: "2001:db8::1", Port: 443}, "[2001:db8::1]:443"},
		{clb.Target{Port: 80}, ":80"},
		{clb.Target{EniIp: "not-an-ip", Port: 80}, "not-an-ip:80"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.key, tt.target.Key())
	}
	w := clb.WeightedTarget{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 30}
	assert.Equal(t, "ins-abc12345:80@30", w.String())
	assert.Equal(t, "ins-abc12345:80", w.Target.String())
	assert.Equal(t, "ins-abc12345:80", w.Key())
	assert.Equal(t, []clb.Target{{InstanceId: "ins-abc12345", Port: 80}}, clb.Unweighted([]clb.WeightedTarget{w}))
}

// TestBoundIdentity: a binding is matched by any spelling of its address
// and named as bound, whatever the case of its Type.
func TestBoundIdentity(t *testing.T) {
	for _, typ := range []string{"CVM", "cvm", ""} {
		b := clb.BoundTarget{Type: typ, InstanceId: "ins-abc12345", PrivateIpAddresses: []string{"10.0.0.5"}, Port: 80}
		assert.True(t, b.IsCVM(), typ)
		for _, asked := range []clb.Target{{EniIp: "10.0.0.5", Port: 80}, {EniIp: "::ffff:10.0.0.5", Port: 80}, {InstanceId: "ins-abc12345", Port: 80}} {
			assert.True(t, b.Matches(asked), "%s %v", typ, asked)
			assert.Equal(t, clb.Target{InstanceId: "ins-abc12345", Port: 80}, b.Identity(asked), "%s %v", typ, asked)
		}
		assert.False(t, b.Matches(clb.Target{EniIp: "10.0.0.5", Port: 81}))
	}
	for _, typ := range []string{"ENI", "eni"} {
		b := clb.BoundTarget{Type: typ, PrivateIpAddresses: []string{"fd00::5"}, Port: 80, EniId: "eni-abc12345"}
		assert.False(t, b.IsCVM(), typ)
		asked := clb.Target{EniIp: "FD00:0::5", Port: 80}
		assert.True(t, b.Matches(asked))
		assert.Equal(t, clb.Target{EniIp: "fd00::5", Port: 80}, b.Identity(asked))
	}
}

// TestWeightedTargetJSON: a weighted target's JSON is the old Target's with
// its weight set, so that recorded histories decode either way.
func TestWeightedTargetJSON(t *testing.T) {
	w := clb.WeightedTarget{Target: clb.Target{EniIp: "10.0.0.5", Port: 8080}, Weight: 0}
	data, err := json.Marshal(w)
	require.NoError(t, err)
	assert.Equal(t, `{"EniIp":"10.0.0.5","Port":8080,"Weight":0}`, string(data))
	var back clb.WeightedTarget
	require.NoError(t, json.Unmarshal([]byte(`{"InstanceId":"ins-abc12345","Port":80,"Weight":30}`), &back))
	assert.Equal(t, clb.WeightedTarget{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 30}, back)
	var plain clb.Target
	require.NoError(t, json.Unmarshal([]byte(`{"InstanceId":"ins-abc12345","Port":80,"Weight":30}`), &plain),
		"an old input with a weight still decodes")
	assert.Equal(t, clb.Target{InstanceId: "ins-abc12345", Port: 80}, plain)
}

func TestBoundTargetMatches(t *testing.T) {
	cvm := clb.BoundTarget{Type: "CVM", InstanceId: "ins-abc12345", PrivateIpAddresses: []string{"10.0.0.4"}, Port: 80, Weight: 10}
	eni := clb.BoundTarget{Type: "ENI", PrivateIpAddresses: []string{"10.0.0.5", "fd00::5"}, Port: 8080}
	tests := []struct {
		name   string
		bound  clb.BoundTarget
		target clb.Target
		want   bool
	}{
		{"same instance and port", cvm, clb.Target{InstanceId: "ins-abc12345", Port: 80}, true},
		{"other port", cvm, clb.Target{InstanceId: "ins-abc12345", Port: 81}, false},
		{"other instance", cvm, clb.Target{InstanceId: "ins-zzz99999", Port: 80}, false},
		{"instance by its private ip", cvm, clb.Target{EniIp: "10.0.0.4", Port: 80}, true},
		{"eni first ip", eni, clb.Target{EniIp: "10.0.0.5", Port: 8080}, true},
		{"eni second ip", eni, clb.Target{EniIp: "fd00::5", Port: 8080}, true},
		{"eni ip written otherwise", eni, clb.Target{EniIp: "FD00:0::5", Port: 8080}, true},
		{"eni other ip", eni, clb.Target{EniIp: "10.0.0.6", Port: 8080}, false},
		{"eni other port", eni, clb.Target{EniIp: "10.0.0.5", Port: 80}, false},
		{"instance target, eni bound", eni, clb.Target{InstanceId: "ins-abc12345", Port: 8080}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.bound.Matches(tt.target), tt.name)
	}
}

func TestSelectorAndProtocols(t *testing.T) {
	assert.False(t, layer4.HasRule())
	assert.Equal(t, "lb-abc12345/lbl-abc12345", layer4.String())
	byID := selector(func(s *clb.Selector) { s.LocationId, s.Domain, s.Url = "loc-abc12345", "www.example.com", "/api" })
	assert.True(t, byID.HasRule())
	assert.Equal(t, "lb-abc12345/lbl-abc12345/loc-abc12345", byID.String())
	byName := selector(func(s *clb.Selector) { s.Domain, s.Url = "www.example.com", "/api" })
	assert.True(t, byName.HasRule())
	assert.Equal(t, "lb-abc12345/lbl-abc12345/www.example.com/api", byName.String())

	for _, p := range []string{clb.ProtocolHTTP, clb.ProtocolHTTPS, "https"} {
		assert.True(t, clb.IsLayer7(p), p)
	}
	for _, p := range []string{clb.ProtocolTCP, clb.ProtocolUDP, clb.ProtocolTCPSSL, clb.ProtocolQUIC, ""} {
		assert.False(t, clb.IsLayer7(p), p)
	}
	assert.Equal(t, "succeeded", clb.TaskSucceeded.String())
	assert.Equal(t, "failed", clb.TaskFailed.String())
	assert.Equal(t, "running", clb.TaskRunning.String())
	assert.Equal(t, "unknown(7)", clb.TaskState(7).String())
}

func TestHealthAndBindingMatchAddressesAlike(t *testing.T) {
	tests := []struct {
		ip, eniIP string
		want      bool
	}{
		{"10.0.0.5", "10.0.0.5", true},
		{"fd00::5", "FD00:0::5", true},
		{"fd00::5", "fd00::6", false},
		{"10.0.0.5", "::ffff:10.0.0.5", true},
		{"not-an-ip", "not-an-ip", true},
		{"", "", false},
		{"10.0.0.5", "", false},
	}
	for _, tt := range tests {
		target := clb.Target{EniIp: tt.eniIP, Port: 80}
		bound := clb.BoundTarget{Type: "ENI", PrivateIpAddresses: []string{tt.ip}, Port: 80}
		health := clb.TargetHealth{IP: tt.ip, Port: 80}
		assert.Equal(t, tt.want, bound.Matches(target), "binding %q, target %q", tt.ip, tt.eniIP)
		assert.Equal(t, tt.want, health.Matches(target), "health %q, target %q", tt.ip, tt.eniIP)
	}
}
