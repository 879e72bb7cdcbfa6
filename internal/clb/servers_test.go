package clb

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestServerMatches(t *testing.T) {
	cvm := BoundTarget{Type: "cvm", InstanceId: "ins-abc12345", PrivateIpAddresses: []string{"10.0.0.5"}, Port: 80}
	eni := BoundTarget{Type: TypeENI, PrivateIpAddresses: []string{"fd00::5"}, Port: 8080}
	for _, tc := range []struct {
		s    Server
		b    BoundTarget
		want bool
		id   Target
	}{
		{Server{InstanceId: "ins-abc12345"}, cvm, true, Target{InstanceId: "ins-abc12345", Port: 80}},
		{Server{InstanceId: "ins-abc12345", Port: 80}, cvm, true, Target{InstanceId: "ins-abc12345", Port: 80}},
		{Server{InstanceId: "ins-abc12345", Port: 81}, cvm, false, Target{}},
		{Server{Ip: "10.0.0.5"}, cvm, true, Target{InstanceId: "ins-abc12345", Port: 80}},
		{Server{Ip: "10.0.0.6"}, cvm, false, Target{}},
		{Server{Ip: "FD00:0::5"}, eni, true, Target{EniIp: "fd00::5", Port: 8080}},
		{Server{InstanceId: "ins-abc12345"}, eni, false, Target{}},
	} {
		assert.Equal(t, tc.want, tc.s.Matches(tc.b), "%s on %+v", tc.s, tc.b)
		if tc.want {
			assert.Equal(t, tc.id, tc.s.Identity(tc.b))
		}
	}
}

func TestValidateServers(t *testing.T) {
	assert.Empty(t, ValidateServers("Servers", []Server{{InstanceId: "ins-abc12345"}, {Ip: "10.0.0.5", Port: 80}, {Ip: "10.0.0.5", Port: 81}}, 10))
	problems := ValidateServers("Servers", []Server{
		{Ip: "10.0.0.5", Port: 80}, {},
		{InstanceId: "ins-abc12345", Ip: "10.0.0.6"},
		{Ip: "10.0.0.5"},
		{InstanceId: "ins-bad", Port: -1},
	}, 3)
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{
		`Servers = "5 servers": must list at most 3`,
		`Servers[1] = ":*": needs exactly one of InstanceId or Ip, and has neither`,
		`Servers[2] = "ins-abc12345 and 10.0.0.6": needs exactly one of InstanceId or Ip, and has both`,
		`Servers[3] = "10.0.0.5:*": overlaps Servers[0] (10.0.0.5:80)`,
		`Servers[4].InstanceId = "ins-bad"`,
		`Servers[4].Port = "-1": must be 0 (every port) or 1-65535`,
	} {
		assert.Contains(t, joined, want)
	}
	assert.Len(t, ValidateServers("S", nil, 0), 1)
}

func TestValidateLoadBalancerIDs(t *testing.T) {
	assert.Empty(t, ValidateLoadBalancerIDs("L", []string{"lb-abc12345", "lb-def12345"}, 5))
	problems := ValidateLoadBalancerIDs("L", []string{"lb-abc12345", "lb-abc12345", "lbx", ""}, 3)
	assert.Len(t, problems, 4)
}
