package clb

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with an input: the field (a path such as
// "Targets[3].Port"), the value found, and what is wrong with it.
type Problem struct {
	Field  string `json:"Field"`
	Value  string `json:"Value"`
	Reason string `json:"Reason"`
}

// String formats as `Targets[3].Port = "70000": must be 1-65535`.
func (p Problem) String() string {
	return p.Field + " = " + strconv.Quote(p.Value) + ": " + p.Reason
}

// ValidationError reports every problem of an input at once.
type ValidationError struct {
	Problems []Problem `json:"Problems"`
}

// Error lists every problem, one per line after the first.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input: ")
	b.WriteString(strconv.Itoa(len(e.Problems)))
	if len(e.Problems) == 1 {
		b.WriteString(" problem")
	} else {
		b.WriteString(" problems")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Err returns a *ValidationError for problems, or nil when there are none.
func Err(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: problems}
}

var (
	loadBalancerIDPattern = regexp.MustCompile(`^lb-[a-z0-9]{8}$`)
	listenerIDPattern     = regexp.MustCompile(`^lbl-[a-z0-9]{8}$`)
	locationIDPattern     = regexp.MustCompile(`^loc-[a-z0-9]{8}$`)
	instanceIDPattern     = regexp.MustCompile(`^ins-[a-z0-9]{8}$`)
)

// Bounds of the values the API accepts.
const (
	MinPort      = 1
	MaxPort      = 65535
	MaxDomainLen = 255
	MaxURLLen    = 255
)

func idProblem(field, value, prefix string, re *regexp.Regexp) []Problem {
	if value == "" {
		return []Problem{{Field: field, Value: value, Reason: "is required"}}
	}
	if !re.MatchString(value) {
		return []Problem{{Field: field, Value: value,
			Reason: "must be " + prefix + " followed by 8 lowercase letters or digits, such as " + prefix + "abc12345"}}
	}
	return nil
}

// ValidateSelector checks the load balancer, listener and rule fields of
// sel: ID formats, and a rule named by LocationId or by Domain and Url
// together. It returns every problem found.
func ValidateSelector(sel Selector) []Problem {
	var out []Problem
	out = append(out, idProblem("LoadBalancerId", sel.LoadBalancerId, "lb-", loadBalancerIDPattern)...)
	out = append(out, idProblem("ListenerId", sel.ListenerId, "lbl-", listenerIDPattern)...)
	if sel.LocationId != "" {
		out = append(out, idProblem("LocationId", sel.LocationId, "loc-", locationIDPattern)...)
	}
	switch {
	case sel.Domain != "" && sel.Url == "":
		out = append(out, Problem{Field: "Url", Value: "", Reason: "is required with Domain " + strconv.Quote(sel.Domain) + " (a rule is named by Domain and Url together)"})
	case sel.Url != "" && sel.Domain == "":
		out = append(out, Problem{Field: "Domain", Value: "", Reason: "is required with Url " + strconv.Quote(sel.Url) + " (a rule is named by Domain and Url together)"})
	}
	// Text that is not UTF-8 would not reach the workflow as it was
	// validated: JSON replaces its bytes.
	switch {
	case !utf8.ValidString(sel.Domain):
		out = append(out, Problem{Field: "Domain", Value: sel.Domain, Reason: "must be UTF-8 text"})
	case len(sel.Domain) > MaxDomainLen || strings.ContainsAny(sel.Domain, " \t\r\n/"):
		out = append(out, Problem{Field: "Domain", Value: sel.Domain, Reason: "must be a host name of at most 255 characters, without spaces or slashes"})
	}
	switch {
	case !utf8.ValidString(sel.Url):
		out = append(out, Problem{Field: "Url", Value: sel.Url, Reason: "must be UTF-8 text"})
	case sel.Url != "" && (len(sel.Url) > MaxURLLen || !strings.HasPrefix(sel.Url, "/") || strings.ContainsAny(sel.Url, " \t\r\n")):
		out = append(out, Problem{Field: "Url", Value: sel.Url, Reason: "must be a path starting with / of at most 255 characters, without spaces"})
	}
	return out
}

// ValidateTarget checks one target; field is its path, such as "Targets[3]".
func ValidateTarget(field string, t Target) []Problem {
	var out []Problem
	switch {
	case t.InstanceId == "" && t.EniIp == "":
		out = append(out, Problem{Field: field, Value: t.Key(), Reason: "needs exactly one of InstanceId or EniIp, and has neither"})
	case t.InstanceId != "" && t.EniIp != "":
		out = append(out, Problem{Field: field, Value: t.InstanceId + " and " + t.EniIp, Reason: "needs exactly one of InstanceId or EniIp, and has both"})
	case t.InstanceId != "":
		out = append(out, idProblem(field+".InstanceId", t.InstanceId, "ins-", instanceIDPattern)...)
	default:
		if addr, err := netip.ParseAddr(t.EniIp); err != nil || addr.Zone() != "" {
			out = append(out, Problem{Field: field + ".EniIp", Value: t.EniIp, Reason: "must be an IPv4 or IPv6 address"})
		}
	}
	if t.Port < MinPort || t.Port > MaxPort {
		out = append(out, Problem{Field: field + ".Port", Value: strconv.FormatInt(t.Port, 10), Reason: "must be 1-65535"})
	}
	return out
}

// ValidateTargets checks every target of a list named field ("Targets"),
// and that the list holds between 1 and maxLen targets (maxLen 0: no
// upper bound).
func ValidateTargets(field string, targets []Target, maxLen int) []Problem {
	var out []Problem
	if len(targets) == 0 {
		out = append(out, Problem{Field: field, Value: "[]", Reason: "must list at least one target"})
	}
	if maxLen > 0 && len(targets) > maxLen {
		out = append(out, Problem{Field: field, Value: strconv.Itoa(len(targets)) + " targets",
			Reason: "must list at most " + strconv.Itoa(maxLen) + " targets"})
	}
	for i, t := range targets {
		out = append(out, ValidateTarget(field+"["+strconv.Itoa(i)+"]", t)...)
	}
	return out
}

// MergeDuplicates returns targets with exact duplicates (same Key) removed,
// keeping the first of each, in order, and how many were removed.
func MergeDuplicates(targets []Target) ([]Target, int) {
	seen := make(map[string]bool, len(targets))
	out := make([]Target, 0, len(targets))
	for _, t := range targets {
		k := t.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
	}
	return out, len(targets) - len(out)
}
