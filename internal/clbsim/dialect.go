package clbsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dialect selects, for each behaviour of the CLB API that no public
// document pins down, which variant the emulator plays. The zero value is
// the emulator's default guess for each. A client that is correct under
// every Dialect (and under DialectAll) does not depend on the guesses.
type Dialect struct {
	// LingeringLock keeps a load balancer locked this long after each of
	// its tasks ends (succeeded or failed): DescribeTaskStatus already
	// answers the task's end while mutating calls are still refused.
	// Callers report this after large batches. Zero: the lock ends with the
	// task.
	LingeringLock time.Duration
	// LockCode is the error code a mutating call on a locked load balancer
	// answers: one of LockCodes. Empty: FailedOperation.ResourceInOperating.
	// Peers meet FailedOperation.InvalidLBStatus, plain FailedOperation, and
	// treat InternalError as "busy with another action".
	LockCode string
	// TaskExpiryCode, when set, makes task ids expire: DescribeTaskStatus of
	// a task that ended more than TaskExpiry ago, or of an unknown task,
	// answers this code, InvalidParameter or ResourceNotFound. How long the
	// API keeps task ids queryable is not documented. Empty: tasks never
	// expire and an unknown task answers InvalidParameter.
	TaskExpiryCode string
	// TaskExpiry is how long after it ends a task stays queryable, when
	// TaskExpiryCode is set.
	TaskExpiry time.Duration
	// OmitEmptyListeners makes DescribeTargets leave out a listener with no
	// targets left (a layer-4 listener with none, a layer-7 listener whose
	// rules have none), as an API that lists bindings rather than
	// listeners would. False: every selected listener is listed.
	OmitEmptyListeners bool
	// LowerCaseTypes makes DescribeTargets spell backend types in lower
	// case (cvm, eni), as some API answers do, and give each ENI backend an
	// EniId (eni- and 8 characters derived from its address). False: CVM
	// and ENI, with no EniId.
	LowerCaseTypes bool
	// ThrottleCode is the code of the emulator's own throttled answers: one
	// of ThrottleCodes, or ThrottleRotate for each in turn. The API limits
	// by account, region and IP as well as by action and says which with a
	// sub-code. Empty: RequestLimitExceeded.
	ThrottleCode string
	// PlainNotFound answers an unknown load balancer or listener with plain
	// InvalidParameter ("LoadBalancer not exist"), as seen in the wild,
	// instead of InvalidParameter.LBIdNotFound and
	// InvalidParameter.ListenerIdNotFound.
	PlainNotFound bool
}

// Codes a Dialect may select.
const (
	codeInvalidLBStatus   = "FailedOperation.InvalidLBStatus"
	codeFailedOperation   = "FailedOperation"
	codeInternalError     = "InternalError"
	codeResourceNotFound  = "ResourceNotFound"
	codeUinLimit          = "RequestLimitExceeded.UinLimitExceeded"
	codeGlobalRegionLimit = "RequestLimitExceeded.GlobalRegionUinLimitExceeded"
	codeIPLimit           = "RequestLimitExceeded.IPLimitExceeded"
	// ThrottleRotate as Dialect.ThrottleCode answers each of ThrottleCodes
	// in turn.
	ThrottleRotate = "rotate"
)

// The codes each Dialect field accepts, in the order documented.
var (
	// LockCodes are the accepted values of Dialect.LockCode.
	LockCodes = []string{codeResourceInOperating, codeInvalidLBStatus, codeFailedOperation, codeInternalError}
	// TaskExpiryCodes are the accepted values of Dialect.TaskExpiryCode.
	TaskExpiryCodes = []string{codeInvalidParameter, codeResourceNotFound}
	// ThrottleCodes are the sub-codes Dialect.ThrottleCode accepts, besides
	// ThrottleRotate.
	ThrottleCodes = []string{codeUinLimit, codeGlobalRegionLimit, codeIPLimit}
)

// DialectAll is the preset "all": every variant on at once.
var DialectAll = Dialect{LingeringLock: 500 * time.Millisecond, LockCode: codeInternalError,
	TaskExpiryCode: codeResourceNotFound, TaskExpiry: time.Second, OmitEmptyListeners: true,
	LowerCaseTypes: true, ThrottleCode: ThrottleRotate, PlainNotFound: true}

// Dialect spec keys (see ParseDialect).
const (
	keyAll                = "all"
	keyLingeringLock      = "lingering-lock"
	keyLockCode           = "lock-code"
	keyTaskExpiry         = "task-expiry"
	keyOmitEmptyListeners = "omit-empty-listeners"
	keyLowerCaseTypes     = "lowercase-type"
	keyThrottleCode       = "throttle-code"
	keyPlainNotFound      = "plain-not-found"
)

// DialectKeys are the names ParseDialect reads, "all" first.
var DialectKeys = []string{keyAll, keyLingeringLock, keyLockCode, keyTaskExpiry, keyOmitEmptyListeners,
	keyLowerCaseTypes, keyThrottleCode, keyPlainNotFound}

// DialectHelp documents the dialect spec, for command-line help.
const DialectHelp = `comma-separated API variants (later entries win):
  all                        every variant below at once: lingering-lock=500ms,lock-code=InternalError,
                             task-expiry=1s:ResourceNotFound,omit-empty-listeners,lowercase-type,
                             throttle-code=rotate,plain-not-found
  lingering-lock=DUR         a load balancer stays locked DUR after each task ends
  lock-code=CODE             a locked load balancer answers CODE: FailedOperation.ResourceInOperating
                             (default), FailedOperation.InvalidLBStatus, FailedOperation or InternalError
  task-expiry=AGE[:CODE]     DescribeTaskStatus of a task ended more than AGE ago, or of an unknown
                             task, answers CODE: InvalidParameter (default) or ResourceNotFound
  omit-empty-listeners       DescribeTargets leaves out listeners with no targets left
  lowercase-type             DescribeTargets spells backend types cvm and eni; ENI backends get an EniId
  throttle-code=CODE         throttled answers carry RequestLimitExceeded.UinLimitExceeded,
                             .GlobalRegionUinLimitExceeded, .IPLimitExceeded (short names accepted)
                             or rotate (each in turn)
  plain-not-found            an unknown load balancer or listener answers plain InvalidParameter
A switch also takes =true or =false.`

// ParseDialect reads a dialect spec: comma-separated entries, each a key of
// DialectKeys, some with a value (see DialectHelp). "all" sets DialectAll;
// later entries override earlier ones, so "all,lock-code=FailedOperation"
// is every variant with that lock code. An empty spec is the zero Dialect.
func ParseDialect(spec string) (Dialect, error) {
	var d Dialect
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, value, hasValue := strings.Cut(entry, "=")
		if err := d.set(key, value, hasValue); err != nil {
			return Dialect{}, fmt.Errorf("clbsim: dialect %q: %w", entry, err)
		}
	}
	return d, nil
}

// set applies one spec entry.
func (d *Dialect) set(key, value string, hasValue bool) error {
	switch key {
	case keyAll:
		if hasValue {
			return errors.New("all takes no value")
		}
		*d = DialectAll
		return nil
	case keyOmitEmptyListeners, keyLowerCaseTypes, keyPlainNotFound:
		on := true
		if hasValue {
			var err error
			if on, err = strconv.ParseBool(value); err != nil {
				return fmt.Errorf("%s takes true or false, not %q", key, value)
			}
		}
		switch key {
		case keyOmitEmptyListeners:
			d.OmitEmptyListeners = on
		case keyLowerCaseTypes:
			d.LowerCaseTypes = on
		default:
			d.PlainNotFound = on
		}
		return nil
	}
	if !hasValue || value == "" {
		if slices.Contains(DialectKeys, key) {
			return fmt.Errorf("%s needs a value", key)
		}
		return fmt.Errorf("unknown dialect %q (want one of %s)", key, strings.Join(DialectKeys, ", "))
	}
	switch key {
	case keyLingeringLock:
		dur, err := parseNonNegative(value)
		d.LingeringLock = dur
		return err
	case keyLockCode:
		d.LockCode = value
		return checkCode("lock-code", value, LockCodes)
	case keyTaskExpiry:
		age, code, _ := strings.Cut(value, ":")
		if code == "" {
			code = codeInvalidParameter
		}
		dur, err := parseNonNegative(age)
		if err != nil {
			return err
		}
		d.TaskExpiry, d.TaskExpiryCode = dur, code
		return checkCode("task-expiry", code, TaskExpiryCodes)
	case keyThrottleCode:
		d.ThrottleCode = throttleLongName(value)
		return d.checkThrottle()
	}
	return fmt.Errorf("unknown dialect %q (want one of %s)", key, strings.Join(DialectKeys, ", "))
}

func parseNonNegative(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a non-negative duration such as 2s", s)
	}
	return d, nil
}

func checkCode(field, code string, allowed []string) error {
	if slices.Contains(allowed, code) {
		return nil
	}
	return fmt.Errorf("%s %q is not one of %s", field, code, strings.Join(allowed, ", "))
}

// throttleLongName turns a short sub-code such as IPLimitExceeded into
// its full code.
func throttleLongName(v string) string {
	if v != ThrottleRotate && !strings.HasPrefix(v, codeRequestLimit+".") {
		return codeRequestLimit + "." + v
	}
	return v
}

func (d Dialect) checkThrottle() error {
	if d.ThrottleCode == "" || d.ThrottleCode == ThrottleRotate {
		return nil
	}
	return checkCode("throttle-code", d.ThrottleCode, append(slices.Clone(ThrottleCodes), ThrottleRotate))
}

// Check reports the first field with a value the emulator cannot play.
func (d Dialect) Check() error {
	switch {
	case d.LingeringLock < 0:
		return fmt.Errorf("clbsim: dialect LingeringLock %s is negative", d.LingeringLock)
	case d.TaskExpiry < 0:
		return fmt.Errorf("clbsim: dialect TaskExpiry %s is negative", d.TaskExpiry)
	case d.TaskExpiry > 0 && d.TaskExpiryCode == "":
		return fmt.Errorf("clbsim: dialect TaskExpiry %s needs a TaskExpiryCode (%s)", d.TaskExpiry, strings.Join(TaskExpiryCodes, " or "))
	}
	if d.LockCode != "" {
		if err := checkCode("LockCode", d.LockCode, LockCodes); err != nil {
			return fmt.Errorf("clbsim: dialect %w", err)
		}
	}
	if d.TaskExpiryCode != "" {
		if err := checkCode("TaskExpiryCode", d.TaskExpiryCode, TaskExpiryCodes); err != nil {
			return fmt.Errorf("clbsim: dialect %w", err)
		}
	}
	if err := d.checkThrottle(); err != nil {
		return fmt.Errorf("clbsim: dialect %w", err)
	}
	return nil
}

// String is the dialect in the spec syntax ParseDialect reads; "" for the
// zero Dialect.
func (d Dialect) String() string {
	var parts []string
	if d.LingeringLock > 0 {
		parts = append(parts, keyLingeringLock+"="+d.LingeringLock.String())
	}
	if d.LockCode != "" {
		parts = append(parts, keyLockCode+"="+d.LockCode)
	}
	if d.TaskExpiryCode != "" {
		parts = append(parts, keyTaskExpiry+"="+d.TaskExpiry.String()+":"+d.TaskExpiryCode)
	}
	for _, sw := range []struct {
		on  bool
		key string
	}{{d.OmitEmptyListeners, keyOmitEmptyListeners}, {d.LowerCaseTypes, keyLowerCaseTypes}} {
		if sw.on {
			parts = append(parts, sw.key)
		}
	}
	if d.ThrottleCode != "" {
		parts = append(parts, keyThrottleCode+"="+d.ThrottleCode)
	}
	if d.PlainNotFound {
		parts = append(parts, keyPlainNotFound)
	}
	return strings.Join(parts, ",")
}

// dialectJSON is the JSON form of a Dialect, with durations as Go
// duration strings.
type dialectJSON struct {
	LingeringLock      string `json:"LingeringLock,omitempty"`
	LockCode           string `json:"LockCode,omitempty"`
	TaskExpiry         string `json:"TaskExpiry,omitempty"`
	TaskExpiryCode     string `json:"TaskExpiryCode,omitempty"`
	OmitEmptyListeners bool   `json:"OmitEmptyListeners"`
	LowerCaseTypes     bool   `json:"LowerCaseTypes"`
	ThrottleCode       string `json:"ThrottleCode,omitempty"`
	PlainNotFound      bool   `json:"PlainNotFound"`
}

// MarshalJSON writes the object form, durations as strings such as "2s":
// {"LingeringLock": "2s", "LockCode": "InternalError", "TaskExpiry": "1m0s",
// "TaskExpiryCode": "ResourceNotFound", "OmitEmptyListeners": true,
// "LowerCaseTypes": true, "ThrottleCode": "rotate", "PlainNotFound": true}.
func (d Dialect) MarshalJSON() ([]byte, error) {
	j := dialectJSON{LockCode: d.LockCode, TaskExpiryCode: d.TaskExpiryCode, OmitEmptyListeners: d.OmitEmptyListeners,
		LowerCaseTypes: d.LowerCaseTypes, ThrottleCode: d.ThrottleCode, PlainNotFound: d.PlainNotFound}
	if d.LingeringLock != 0 {
		j.LingeringLock = d.LingeringLock.String()
	}
	if d.TaskExpiryCode != "" {
		j.TaskExpiry = d.TaskExpiry.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the object form MarshalJSON writes (fields left out
// are off; a TaskExpiry without a TaskExpiryCode means InvalidParameter),
// or a JSON string holding a spec for ParseDialect, such as "all". Unknown
// fields and values the emulator cannot play are errors.
func (d *Dialect) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		var spec string
		if err := json.Unmarshal(b, &spec); err != nil {
			return err
		}
		parsed, err := ParseDialect(spec)
		if err != nil {
			return err
		}
		*d = parsed
		return nil
	}
	var j dialectJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("clbsim: dialect: %w", err)
	}
	out := Dialect{LockCode: j.LockCode, TaskExpiryCode: j.TaskExpiryCode, OmitEmptyListeners: j.OmitEmptyListeners,
		LowerCaseTypes: j.LowerCaseTypes, ThrottleCode: throttleLongNameOrEmpty(j.ThrottleCode), PlainNotFound: j.PlainNotFound}
	var err error
	if j.LingeringLock != "" {
		if out.LingeringLock, err = parseNonNegative(j.LingeringLock); err != nil {
			return fmt.Errorf("clbsim: dialect LingeringLock: %w", err)
		}
	}
	if j.TaskExpiry != "" {
		if out.TaskExpiry, err = parseNonNegative(j.TaskExpiry); err != nil {
			return fmt.Errorf("clbsim: dialect TaskExpiry: %w", err)
		}
		if out.TaskExpiryCode == "" {
			out.TaskExpiryCode = codeInvalidParameter
		}
	}
	if err := out.Check(); err != nil {
		return err
	}
	*d = out
	return nil
}

func throttleLongNameOrEmpty(v string) string {
	if v == "" {
		return ""
	}
	return throttleLongName(v)
}

// lockError is the answer of a mutating call on a locked load balancer;
// holder says what holds the lock.
func (d Dialect) lockError(lbID, holder string) *apiError {
	switch d.LockCode {
	case codeInvalidLBStatus:
		return fail(codeInvalidLBStatus, "The status of LoadBalancer %s is not normal (%s); retry later.", lbID, holder)
	case codeFailedOperation:
		return fail(codeFailedOperation, "Your task is working: LoadBalancer %s is being operated on (%s).", lbID, holder)
	case codeInternalError:
		return fail(codeInternalError, "An internal error has occurred. Retry your request later.")
	}
	return fail(codeResourceInOperating, "LoadBalancer %s is not in normal desState, maybe some tasks are being processed (%s); retry later.", lbID, holder)
}

// throttleCode is the code of the n-th throttled answer (n from 0).
func (d Dialect) throttleCode(n int) string {
	switch d.ThrottleCode {
	case "":
		return codeRequestLimit
	case ThrottleRotate:
		return ThrottleCodes[n%len(ThrottleCodes)]
	}
	return d.ThrottleCode
}

// taskGone is the answer of DescribeTaskStatus for an unknown task, or for
// one expired in this dialect.
func (d Dialect) taskGone(id string) *apiError {
	if d.TaskExpiryCode == codeResourceNotFound {
		return fail(codeResourceNotFound, "The task %s does not exist or has expired.", id)
	}
	return fail(codeInvalidParameter, "TaskId %s is not found.", id)
}

// expired reports whether a task that ended at ended is past its expiry at
// now.
func (d Dialect) expired(ended, now time.Time) bool {
	return d.TaskExpiryCode != "" && now.Sub(ended) > d.TaskExpiry
}

// lbNotFound and listenerNotFound answer an unknown load balancer or
// listener.
func (d Dialect) lbNotFound(lbID string) *apiError {
	if d.PlainNotFound {
		return fail(codeInvalidParameter, "LoadBalancer not exist: %s.", lbID)
	}
	return fail(codeLBNotFound, "LoadBalancer %s is not found.", lbID)
}

func (d Dialect) listenerNotFound(lbID, listenerID string) *apiError {
	if d.PlainNotFound {
		return fail(codeInvalidParameter, "Listener not exist: %s.", listenerID)
	}
	return fail(codeListenerNotFound, "Listener %s is not found in LoadBalancer %s.", listenerID, lbID)
}

// backendType is a backend's Type as DescribeTargets spells it.
func (d Dialect) backendType(t string) string {
	if d.LowerCaseTypes {
		return strings.ToLower(t)
	}
	return t
}

// eniID is the deterministic EniId of an ENI backend's address: eni- and
// 8 lowercase letters or digits drawn from a hash of the address.
func eniID(addr string) string { return derivedID(prefixENI, canonicalIP(addr)) }

// derivedID is prefix and 8 lowercase letters or digits drawn from a hash
// of from: the same from always gives the same id.
func derivedID(prefix, from string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(from))
	sum := h.Sum64()
	b := []byte(prefix + "00000000")
	for i := len(prefix); i < len(b); i++ {
		b[i] = idAlphabet[sum%uint64(len(idAlphabet))]
		sum /= uint64(len(idAlphabet))
	}
	return string(b)
}
