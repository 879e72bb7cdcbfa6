package clbsim

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// Error codes the emulator answers, as the API spells them.
const (
	codeAuthInvalid         = "AuthFailure.InvalidAuthorization"
	codeSecretIDNotFound    = "AuthFailure.SecretIdNotFound"
	codeSignatureFailure    = "AuthFailure.SignatureFailure"
	codeSignatureExpire     = "AuthFailure.SignatureExpire"
	codeInvalidAction       = "InvalidAction"
	codeNoSuchVersion       = "NoSuchVersion"
	codeUnsupportedProto    = "UnsupportedProtocol"
	codeUnsupportedOp       = "UnsupportedOperation"
	codeMissingParameter    = "MissingParameter"
	codeInvalidParameter    = "InvalidParameter"
	codeFormatError         = "InvalidParameter.FormatError"
	codeLBNotFound          = "InvalidParameter.LBIdNotFound"
	codeListenerNotFound    = "InvalidParameter.ListenerIdNotFound"
	codeLocationNotFound    = "InvalidParameter.LocationNotFound"
	codeRegionNotFound      = "InvalidParameter.RegionNotFound"
	codeInvalidValue        = "InvalidParameterValue"
	codeDuplicate           = "InvalidParameterValue.Duplicate"
	codeLength              = "InvalidParameterValue.Length"
	codeRange               = "InvalidParameterValue.Range"
	codeResourceInOperating = "FailedOperation.ResourceInOperating"
	codeRequestLimit        = "RequestLimitExceeded"
)

// apiError is an error answer: a Tencent error code and its message.
type apiError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func fail(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func missing(name string) *apiError {
	return fail(codeMissingParameter, "The request is missing a required parameter `%s`.", name)
}

// ID prefixes of the resources the emulator knows.
const (
	prefixLB       = "lb-"
	prefixListener = "lbl-"
	prefixLocation = "loc-"
	prefixInstance = "ins-"
	prefixENI      = "eni-"
)

// Bounds the API enforces.
const (
	maxTargetsPerCall = 20
	// BatchModifyTargetWeight takes at most this many targets in all.
	maxBatchTargets = 500
	// DescribeLoadBalancers and DescribeTargetHealth take at most this
	// many LoadBalancerIds.
	maxLoadBalancerIDs = 20
	maxListenerIDs     = 20
	// DescribeListeners takes more ListenerIds than DescribeTargets.
	maxListenerIDsToList = 100
	minPort              = 1
	maxPort              = 65535
	minWeight            = 0
	maxWeight            = 100
	defaultWeight        = 10
)

// validID reports whether id is prefix followed by 8 lowercase letters or
// digits.
func validID(id, prefix string) bool {
	if len(id) != len(prefix)+8 || id[:len(prefix)] != prefix {
		return false
	}
	for _, c := range []byte(id[len(prefix):]) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func checkID(field, id, prefix string) *apiError {
	if validID(id, prefix) {
		return nil
	}
	return fail(codeFormatError, "The format of parameter `%s` is wrong: %q is not %s followed by 8 lowercase letters or digits.", field, id, prefix)
}

// canonicalIP is the textual form of an address, so that two spellings of
// one IPv6 address compare equal; anything unparsable is kept as given.
func canonicalIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// wireTarget is a Target as a request carries it.
type wireTarget struct {
	InstanceId *string `json:"InstanceId"`
	EniIp      *string `json:"EniIp"`
	Port       *int64  `json:"Port"`
	Weight     *int64  `json:"Weight"`
	Type       *string `json:"Type"`
	Tag        *string `json:"Tag"`
}

// targetsRequest is the body of DeregisterTargets, RegisterTargets and
// ModifyTargetWeight (which alone has Weight).
type targetsRequest struct {
	LoadBalancerId *string       `json:"LoadBalancerId"`
	ListenerId     *string       `json:"ListenerId"`
	LocationId     *string       `json:"LocationId"`
	Domain         *string       `json:"Domain"`
	Url            *string       `json:"Url"`
	Targets        []*wireTarget `json:"Targets"`
	Weight         *int64        `json:"Weight"`
}

// checkedTarget is a request target after validation: a CVM instance or
// an ENI address (canonical form), its port, its own weight if given, and
// its key (see boundKey).
type checkedTarget struct {
	instanceID, eniIP string
	port              int64
	weight            *int64
	key               string
}

// checkedTargets is a validated targetsRequest.
type checkedTargets struct {
	lbID, listenerID        string
	locationID, domain, url string
	targets                 []checkedTarget
	weight                  *int64
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// checkTargetsRequest validates what the API validates before looking at
// the fleet: required fields, formats, sizes, ranges and duplicates.
func checkTargetsRequest(req *targetsRequest, withWeight bool) (checkedTargets, *apiError) {
	c := checkedTargets{lbID: str(req.LoadBalancerId)}
	switch {
	case c.lbID == "":
		return c, missing("LoadBalancerId")
	case str(req.ListenerId) == "":
		return c, missing("ListenerId")
	case len(req.Targets) == 0:
		return c, missing("Targets")
	}
	if err := checkID("LoadBalancerId", c.lbID, prefixLB); err != nil {
		return c, err
	}
	if len(req.Targets) > maxTargetsPerCall {
		return c, fail(codeLength, "The length of parameter `Targets` is %d; at most %d targets are allowed.", len(req.Targets), maxTargetsPerCall)
	}
	var weight *int64
	if withWeight {
		weight = req.Weight
	}
	part, err := checkPart("", targetsPart{ListenerId: req.ListenerId, LocationId: req.LocationId, Domain: req.Domain, Url: req.Url,
		Targets: req.Targets, Weight: weight})
	c.listenerID, c.locationID, c.domain, c.url, c.targets, c.weight = part.listenerID, part.locationID, part.domain, part.url, part.targets, part.weight
	return c, err
}

// targetsPart is where a request changes targets and which: the fields of
// DeregisterTargets and its kin, and of an entry of
// BatchModifyTargetWeight's ModifyList.
type targetsPart struct {
	ListenerId *string       `json:"ListenerId"`
	LocationId *string       `json:"LocationId"`
	Domain     *string       `json:"Domain"`
	Url        *string       `json:"Url"`
	Targets    []*wireTarget `json:"Targets"`
	Weight     *int64        `json:"Weight"`
}

// checkPart validates one listener or rule's part of a request, its field
// names prefixed with field ("" or "ModifyList.0."): the selector's
// formats, the weight's range, each target, and duplicates.
func checkPart(field string, p targetsPart) (checkedTargets, *apiError) {
	c := checkedTargets{listenerID: str(p.ListenerId), locationID: str(p.LocationId), domain: str(p.Domain), url: str(p.Url)}
	switch {
	case c.listenerID == "":
		return c, missing(field + "ListenerId")
	case len(p.Targets) == 0:
		return c, missing(field + "Targets")
	}
	if err := checkID(field+"ListenerId", c.listenerID, prefixListener); err != nil {
		return c, err
	}
	if c.locationID != "" {
		if err := checkID(field+"LocationId", c.locationID, prefixLocation); err != nil {
			return c, err
		}
		// LocationId wins: Domain and Url are ignored.
		c.domain, c.url = "", ""
	} else {
		switch {
		case c.domain != "" && c.url == "":
			return c, missing(field + "Url")
		case c.url != "" && c.domain == "":
			return c, missing(field + "Domain")
		}
	}
	if p.Weight != nil {
		if err := checkWeight(field+"Weight", *p.Weight); err != nil {
			return c, err
		}
		c.weight = p.Weight
	}
	seen := make(map[string]int, len(p.Targets))
	for i, wt := range p.Targets {
		t, err := checkTarget(field+"Targets."+strconv.Itoa(i), wt)
		if err != nil {
			return c, err
		}
		if first, dup := seen[t.key]; dup {
			return c, fail(codeDuplicate, "The value of parameter `%sTargets.%d` (%s) duplicates `%sTargets.%d`.", field, i, t.key, field, first)
		}
		seen[t.key] = i
		c.targets = append(c.targets, t)
	}
	return c, nil
}

func checkTarget(field string, wt *wireTarget) (checkedTarget, *apiError) {
	if wt == nil {
		return checkedTarget{}, missing(field)
	}
	var t checkedTarget
	ins, eni := str(wt.InstanceId), str(wt.EniIp)
	switch {
	case ins != "" && eni != "":
		return checkedTarget{}, fail(codeInvalidParameter, "`%s` gives both InstanceId %s and EniIp %s; give exactly one.", field, ins, eni)
	case ins == "" && eni == "":
		return checkedTarget{}, missing(field + ".InstanceId")
	case wt.Port == nil:
		return checkedTarget{}, missing(field + ".Port")
	case ins != "":
		if err := checkID(field+".InstanceId", ins, prefixInstance); err != nil {
			return checkedTarget{}, err
		}
		t.instanceID = ins
	default:
		a, err := netip.ParseAddr(eni)
		if err != nil || a.Zone() != "" {
			return checkedTarget{}, fail(codeFormatError, "The format of parameter `%s.EniIp` is wrong: %q is not an IP address.", field, eni)
		}
		t.eniIP = a.String()
	}
	t.port = *wt.Port
	if t.port < minPort || t.port > maxPort {
		return checkedTarget{}, fail(codeRange, "The value of parameter `%s.Port` is %d; it must be %d-%d.", field, t.port, minPort, maxPort)
	}
	if wt.Weight != nil {
		if err := checkWeight(field+".Weight", *wt.Weight); err != nil {
			return checkedTarget{}, err
		}
		t.weight = wt.Weight
	}
	t.key = targetKey(t.instanceID, t.eniIP, t.port)
	return t, nil
}

// targetKey is a target's key as clb.Target.Key spells it:
// "ins-abc12345:80", "10.0.0.5:80" or "[fd00::5]:80".
func targetKey(instanceID, eniIP string, port int64) string {
	return clb.Target{InstanceId: instanceID, EniIp: eniIP, Port: port}.Key()
}

func checkWeight(field string, w int64) *apiError {
	if w < minWeight || w > maxWeight {
		return fail(codeRange, "The value of parameter `%s` is %d; it must be %d-%d.", field, w, minWeight, maxWeight)
	}
	return nil
}
