package clb

import (
	"net/netip"
	"strconv"
)

// Server names a real server to take out of every load balancer it serves:
// a CVM by InstanceId, or any target (CVM or ENI) by one of its private
// IPs, on one Port or, when Port is 0, on every port.
type Server struct {
	// InstanceId is a CVM instance, such as ins-abc12345.
	InstanceId string `json:"InstanceId,omitempty"`
	// Ip is a private IPv4 or IPv6 address: a CVM's or an ENI target's.
	Ip string `json:"Ip,omitempty"`
	// Port, when not 0, limits the server to bindings on that port.
	Port int64 `json:"Port,omitempty"`
}

// Host is the server's InstanceId, else its IP in canonical form.
func (s Server) Host() string {
	if s.InstanceId != "" {
		return s.InstanceId
	}
	if addr, err := netip.ParseAddr(s.Ip); err == nil {
		return addr.Unmap().String()
	}
	return s.Ip
}

// Key identifies the server as given: Host, then ":port" or ":*" for every
// port.
func (s Server) Key() string {
	port := "*"
	if s.Port != 0 {
		port = strconv.FormatInt(s.Port, 10)
	}
	return s.Host() + ":" + port
}

// String is the Key.
func (s Server) String() string { return s.Key() }

// Matches reports whether the bound target b is a binding of s: on its
// port (any when s.Port is 0), a CVM binding with its InstanceId, or any
// binding with s.Ip among its private IPs (compared as addresses).
func (s Server) Matches(b BoundTarget) bool {
	if s.Port != 0 && b.Port != s.Port {
		return false
	}
	if s.InstanceId != "" {
		return b.IsCVM() && b.InstanceId == s.InstanceId
	}
	_, ok := b.matchedIP(s.Ip)
	return ok
}

// Identity is the target that names b in a mutating call, when s Matches
// it: a CVM binding by its InstanceId, an ENI binding by its IP.
func (s Server) Identity(b BoundTarget) Target {
	return b.Identity(Target{InstanceId: s.InstanceId, EniIp: s.Ip, Port: b.Port})
}

// ValidateServers checks a list of servers named field ("Servers"): between
// 1 and maxLen (0: no bound), each with exactly one of InstanceId (ins- and
// 8 characters) or Ip (an address), a Port of 0 (every port) or 1-65535,
// and none given twice: the same server again, or on every port and on one
// of them too. It returns every problem found.
func ValidateServers(field string, servers []Server, maxLen int) []Problem {
	var out []Problem
	switch {
	case len(servers) == 0:
		out = append(out, Problem{Field: field, Value: "[]", Reason: "must list at least one server"})
	case maxLen > 0 && len(servers) > maxLen:
		out = append(out, Problem{Field: field, Value: strconv.Itoa(len(servers)) + " servers", Reason: "must list at most " + strconv.Itoa(maxLen)})
	}
	for i, s := range servers {
		f := field + "[" + strconv.Itoa(i) + "]"
		out = append(out, validateServer(f, s)...)
		if j := overlaps(servers[:i], s); j >= 0 {
			out = append(out, Problem{Field: f, Value: s.Key(), Reason: "overlaps " + field + "[" + strconv.Itoa(j) + "] (" + servers[j].Key() + "): give each server and port once"})
		}
	}
	return out
}

// overlaps is the index of the first of earlier that names bindings s
// names too (same host, and the same port or every port), or -1.
func overlaps(earlier []Server, s Server) int {
	for j, e := range earlier {
		if e.Host() == s.Host() && (e.Port == s.Port || e.Port == 0 || s.Port == 0) {
			return j
		}
	}
	return -1
}

func validateServer(field string, s Server) []Problem {
	var out []Problem
	switch {
	case s.InstanceId == "" && s.Ip == "":
		out = append(out, Problem{Field: field, Value: s.Key(), Reason: "needs exactly one of InstanceId or Ip, and has neither"})
	case s.InstanceId != "" && s.Ip != "":
		out = append(out, Problem{Field: field, Value: s.InstanceId + " and " + s.Ip,
			Reason: "needs exactly one of InstanceId or Ip, and has both (list the instance and the address as two servers if both are meant)"})
	case s.InstanceId != "":
		out = append(out, idProblem(field+".InstanceId", s.InstanceId, "ins-", instanceIDPattern)...)
	default:
		if addr, err := netip.ParseAddr(s.Ip); err != nil || addr.Zone() != "" {
			out = append(out, Problem{Field: field + ".Ip", Value: s.Ip, Reason: "must be an IPv4 or IPv6 address"})
		}
	}
	if s.Port != 0 && (s.Port < MinPort || s.Port > MaxPort) {
		out = append(out, Problem{Field: field + ".Port", Value: strconv.FormatInt(s.Port, 10), Reason: "must be 0 (every port) or 1-65535"})
	}
	return out
}

// ValidateLoadBalancerIDs checks a scope of load balancer IDs named field:
// each lb- and 8 characters, none twice, at most maxLen (0: no bound).
func ValidateLoadBalancerIDs(field string, ids []string, maxLen int) []Problem {
	var out []Problem
	if maxLen > 0 && len(ids) > maxLen {
		out = append(out, Problem{Field: field, Value: strconv.Itoa(len(ids)) + " load balancers", Reason: "must list at most " + strconv.Itoa(maxLen)})
	}
	seen := map[string]int{}
	for i, id := range ids {
		f := field + "[" + strconv.Itoa(i) + "]"
		out = append(out, idProblem(f, id, "lb-", loadBalancerIDPattern)...)
		if j, ok := seen[id]; ok {
			out = append(out, Problem{Field: f, Value: id, Reason: "is already given as " + field + "[" + strconv.Itoa(j) + "]"})
		} else {
			seen[id] = i
		}
	}
	return out
}
