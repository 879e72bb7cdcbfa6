package clb

import (
	"bytes"
	"encoding/json"
	"strings"
)

// TargetList is a list of targets whose JSON is compact: targets that share
// a port are written as one group, their instance IDs and ENI addresses as
// suffixes of a common prefix, so that a list of 10,000 targets stays far
// below Temporal's payload limits. Its JSON decodes from that form or from
// an array of Target objects (what earlier versions wrote).
//
//	[{"Port":80,"Prefix":"ins-","InstanceIds":["abc12345","abc12346"]},
//	 {"Port":8080,"Prefix":"fd00:5:0:1:","EniIps":["a1b2:c3d4:e5f6:1","a1b2:c3d4:e5f6:2"]}]
type TargetList []Target

// WeightedList is a list of weighted targets in the compact JSON of
// TargetList, grouped by port and weight. It decodes from that form or from
// an array of WeightedTarget objects.
type WeightedList []WeightedTarget

// targetGroup is one group of the compact JSON: targets that share a port
// (and a weight, in a WeightedList). Each of InstanceIds and EniIps is
// written as suffixes of its own prefix: InstancePrefix and Prefix.
type targetGroup struct {
	Port           int64    `json:"Port"`
	Weight         *int64   `json:"Weight,omitempty"`
	InstancePrefix string   `json:"InstancePrefix,omitempty"`
	InstanceIds    []string `json:"InstanceIds,omitempty"`
	Prefix         string   `json:"Prefix,omitempty"`
	EniIps         []string `json:"EniIps,omitempty"`
}

// MarshalJSON writes the compact form.
func (l TargetList) MarshalJSON() ([]byte, error) {
	w := make([]WeightedTarget, len(l))
	for i, t := range l {
		w[i] = WeightedTarget{Target: t}
	}
	return json.Marshal(groupTargets(w, false))
}

// UnmarshalJSON reads the compact form or an array of Target objects.
func (l *TargetList) UnmarshalJSON(b []byte) error {
	var w WeightedList
	if err := w.UnmarshalJSON(b); err != nil {
		return err
	}
	*l = nil
	if w != nil {
		*l = Unweighted(w)
	}
	return nil
}

// MarshalJSON writes the compact form.
func (l WeightedList) MarshalJSON() ([]byte, error) {
	return json.Marshal(groupTargets(l, true))
}

// UnmarshalJSON reads the compact form or an array of WeightedTarget
// objects (a missing Weight reads as 0).
func (l *WeightedList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*l = nil
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(WeightedList, 0, len(raw))
	for _, r := range raw {
		var g targetGroup
		if err := json.Unmarshal(r, &g); err != nil {
			return err
		}
		if g.InstanceIds == nil && g.EniIps == nil {
			var t WeightedTarget
			if err := json.Unmarshal(r, &t); err != nil {
				return err
			}
			out = append(out, t)
			continue
		}
		out = append(out, g.targets()...)
	}
	*l = out
	return nil
}

// targets expands a group.
func (g targetGroup) targets() []WeightedTarget {
	var w int64
	if g.Weight != nil {
		w = *g.Weight
	}
	out := make([]WeightedTarget, 0, len(g.InstanceIds)+len(g.EniIps))
	for _, s := range g.InstanceIds {
		out = append(out, WeightedTarget{Target: Target{InstanceId: g.InstancePrefix + s, Port: g.Port}, Weight: w})
	}
	for _, s := range g.EniIps {
		out = append(out, WeightedTarget{Target: Target{EniIp: g.Prefix + s, Port: g.Port}, Weight: w})
	}
	return out
}

// groupTargets groups targets by port (and weight when weighted), in order
// of first appearance, each group's hosts in their order.
func groupTargets(ts []WeightedTarget, weighted bool) []targetGroup {
	type key struct{ port, weight int64 }
	index := map[key]int{}
	var groups []targetGroup
	for _, t := range ts {
		k := key{port: t.Port}
		if weighted {
			k.weight = t.Weight
		}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			g := targetGroup{Port: t.Port}
			if weighted {
				g.Weight = &t.Weight
			}
			groups = append(groups, g)
		}
		if t.InstanceId != "" {
			groups[i].InstanceIds = append(groups[i].InstanceIds, t.InstanceId)
		} else {
			groups[i].EniIps = append(groups[i].EniIps, t.EniIp)
		}
	}
	for i := range groups {
		groups[i].InstancePrefix, groups[i].InstanceIds = factor(groups[i].InstanceIds)
		groups[i].Prefix, groups[i].EniIps = factor(groups[i].EniIps)
	}
	return groups
}

// factor splits hosts into their longest common prefix and the suffixes.
// A prefix is kept only when it saves bytes, and never empties a host.
func factor(hosts []string) (string, []string) {
	if len(hosts) < 2 {
		return "", hosts
	}
	prefix := hosts[0]
	for _, h := range hosts[1:] {
		n := 0
		for n < len(prefix) && n < len(h) && prefix[n] == h[n] {
			n++
		}
		prefix = prefix[:n]
	}
	for _, h := range hosts {
		if len(h) == len(prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if len(prefix) < 2 {
		return "", hosts
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = strings.TrimPrefix(h, prefix)
	}
	return prefix, out
}
