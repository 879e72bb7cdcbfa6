package clb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
)

// Class groups error codes that call for the same reaction.
type Class string

// The classes of the error-code table.
const (
	// ClassCallerError: the request itself is wrong; retrying cannot help.
	ClassCallerError Class = "caller-error"
	// ClassNotBound: DeregisterTargets or ModifyTargetWeight named a target
	// that is not bound. The caller confirms with DescribeTargets; gone
	// means done (or, for a weight, nothing to change).
	ClassNotBound Class = "not-bound"
	// ClassAlreadyBound: RegisterTargets named a target that is bound
	// already. The caller confirms with DescribeTargets; bound means done,
	// and the binding's weight is left as it is.
	ClassAlreadyBound Class = "already-bound"
	// ClassDenied: the credentials are wrong or lack permission.
	ClassDenied Class = "denied"
	// ClassClockSkew: the signature expired, which a clock that is off
	// causes as well as an old request; retried once.
	ClassClockSkew Class = "clock-skew"
	// ClassThrottled: over the API's request rate; always retried.
	ClassThrottled Class = "throttled"
	// ClassBusy: the load balancer is locked by another task; retried.
	ClassBusy Class = "busy"
	// ClassTransient: a server or network fault; retried a bounded number
	// of times.
	ClassTransient Class = "transient"
	// ClassUnknown: an unlisted code; a few retries, then fail.
	ClassUnknown Class = "unknown"
	// ClassTaskUnknown: DescribeTaskStatus does not know the task (its id
	// expired, or never existed). Whether the task's change was applied is
	// to be learnt from DescribeTargets.
	ClassTaskUnknown Class = "task-unknown"
)

// Codes made by the client for failures that have no answer from the API.
const (
	CodeNetworkError   = "ClientError.NetworkError"
	CodeTimeout        = "ClientError.Timeout"
	CodeCanceled       = "ClientError.Canceled"
	CodeHTTPStatus     = "ClientError.HttpStatusCodeError"
	CodeIOError        = "ClientError.IOError"
	CodeParseJSONError = "ClientError.ParseJsonError"
	CodeNoCredential   = "ClientError.CredentialError"
)

// codeRule is one row of the table. An empty Action applies to every
// action; a row with an Action wins over one without for that action.
type codeRule struct {
	Code   string
	Action string
	Class  Class
}

// codeTable maps Tencent error codes to classes. Lookup order: the exact
// code (for the action, then for any action), then the prefix before the
// first dot (likewise), then ClassUnknown. Adding a code is one line.
var codeTable = []codeRule{
	// Caller errors: fail fast with the code and message.
	{Code: "InvalidParameter", Class: ClassCallerError},
	{Code: "InvalidParameter.FormatError", Class: ClassCallerError},
	{Code: "InvalidParameter.LBIdNotFound", Class: ClassCallerError},
	{Code: "InvalidParameter.ListenerIdNotFound", Class: ClassCallerError},
	{Code: "InvalidParameter.LocationNotFound", Class: ClassCallerError},
	{Code: "InvalidParameter.RegionNotFound", Class: ClassCallerError},
	{Code: "InvalidParameterValue", Class: ClassCallerError},
	{Code: "InvalidParameterValue.Duplicate", Class: ClassCallerError},
	{Code: "InvalidParameterValue.Length", Class: ClassCallerError},
	{Code: "InvalidParameterValue.Range", Class: ClassCallerError},
	{Code: "MissingParameter", Class: ClassCallerError},
	{Code: "ResourceNotFound", Class: ClassCallerError},
	{Code: "UnsupportedOperation", Class: ClassCallerError},
	{Code: "LimitExceeded", Class: ClassCallerError},
	{Code: CodeNoCredential, Class: ClassCallerError},

	// Not bound: deregistering or reweighing a target that is not bound
	// answers InvalidParameter; the caller confirms with DescribeTargets.
	{Code: "InvalidParameter", Action: ActionDeregisterTargets, Class: ClassNotBound},
	{Code: "InvalidParameter", Action: ActionModifyTargetWeight, Class: ClassNotBound},
	// Likewise a batch weight change naming a target that is gone.
	{Code: "InvalidParameter", Action: ActionBatchModifyTargetWeight, Class: ClassNotBound},
	// Already bound: registering a bound target answers InvalidParameter;
	// the caller confirms with DescribeTargets.
	{Code: "InvalidParameter", Action: ActionRegisterTargets, Class: ClassAlreadyBound},

	// Task unknown: DescribeTaskStatus of an expired or unknown task id.
	// The id is one the API gave, so the request is never malformed.
	{Code: "InvalidParameter", Action: ActionDescribeTaskStatus, Class: ClassTaskUnknown},
	{Code: "ResourceNotFound", Action: ActionDescribeTaskStatus, Class: ClassTaskUnknown},

	// Denied: the credentials are wrong.
	{Code: "UnauthorizedOperation", Class: ClassDenied},
	{Code: "AuthFailure", Class: ClassDenied},
	{Code: "AuthFailure.SignatureFailure", Class: ClassDenied},
	{Code: "AuthFailure.SecretIdNotFound", Class: ClassDenied},
	{Code: "AuthFailure.TokenFailure", Class: ClassDenied},

	// Clock skew: an expired signature; the clock may be off.
	{Code: "AuthFailure.SignatureExpire", Class: ClassClockSkew},

	// Throttled: retried at about 1 s, never given up within the deadline.
	{Code: "RequestLimitExceeded", Class: ClassThrottled},
	{Code: "RequestLimitExceeded.UinLimitExceeded", Class: ClassThrottled},
	{Code: "RequestLimitExceeded.IPLimitExceeded", Class: ClassThrottled},
	{Code: "RequestLimitExceeded.GlobalRegionUinLimitExceeded", Class: ClassThrottled},

	// Busy: another task holds the load balancer.
	{Code: "FailedOperation.ResourceInOperating", Class: ClassBusy},
	// Some load balancers answer a lock with plain FailedOperation. On a
	// mutating call that is the lock's shape: clbdrain sends one change at
	// a time and waits for its task, so what refuses the next one is
	// another writer's task or a lock that outlives the task.
	{Code: "FailedOperation", Action: ActionDeregisterTargets, Class: ClassBusy},
	{Code: "FailedOperation", Action: ActionModifyTargetWeight, Class: ClassBusy},
	{Code: "FailedOperation", Action: ActionBatchModifyTargetWeight, Class: ClassBusy},
	{Code: "FailedOperation", Action: ActionRegisterTargets, Class: ClassBusy},
	{Code: "FailedOperation.InvalidLBStatus", Class: ClassBusy},
	{Code: "ResourceInUse", Class: ClassBusy},
	{Code: "ResourceUnavailable", Class: ClassBusy},

	// Transient: server or network faults.
	{Code: "InternalError", Class: ClassTransient},
	{Code: CodeNetworkError, Class: ClassTransient},
	{Code: CodeTimeout, Class: ClassTransient},
	{Code: CodeIOError, Class: ClassTransient},
	{Code: CodeHTTPStatus, Class: ClassTransient},
	{Code: CodeParseJSONError, Class: ClassTransient},
	// A call cut short by its context: the activity's worker is stopping,
	// or the activity was cancelled. Never the request's fault; the
	// activities tell the two apart (activities/retry.go).
	{Code: CodeCanceled, Class: ClassTransient},

	// Unknown: a few retries, then fail with the code.
	{Code: "FailedOperation", Class: ClassUnknown},
}

type tableKey struct{ code, action string }

var codeIndex = func() map[tableKey]Class {
	idx := make(map[tableKey]Class, len(codeTable))
	for _, r := range codeTable {
		k := tableKey{r.Code, r.Action}
		if _, dup := idx[k]; dup {
			panic("clb: error-code table lists " + r.Code + " twice")
		}
		idx[k] = r.Class
	}
	return idx
}()

// ClassOf returns the class of an error code answered to action.
func ClassOf(action, code string) Class {
	candidates := []string{code}
	if prefix, _, found := strings.Cut(code, "."); found {
		candidates = append(candidates, prefix)
	}
	for _, c := range candidates {
		if class, ok := codeIndex[tableKey{c, action}]; ok {
			return class
		}
		if class, ok := codeIndex[tableKey{c, ""}]; ok {
			return class
		}
	}
	return ClassUnknown
}

// Error is an error from the CLB API (or from reaching it), classified.
type Error struct {
	// Action is the API action that failed.
	Action string
	// Code is the Tencent error code, or a ClientError.* code for failures
	// without an answer.
	Code string
	// Message is the API's message (never holds credentials).
	Message string
	// RequestID is the API's request id, when there was an answer.
	RequestID string
	// Class is the code's class for this action.
	Class Class
	// Err is the underlying error.
	Err error
}

// Error formats as "Action: Code: Message (RequestId ...)".
func (e *Error) Error() string {
	s := e.Action + ": " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (RequestId " + e.RequestID + ")"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Classify turns any error from calling action into a classified *Error:
// an SDK error keeps its code; a deadline or a network timeout becomes
// ClientError.Timeout, a cancellation ClientError.Canceled, any other
// failure ClientError.NetworkError. A nil error gives nil; an *Error is
// returned as it is.
func Classify(action string, err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	e := &Error{Action: action, Err: err}
	var sdk *tcerr.TencentCloudSDKError
	var netErr net.Error
	switch {
	case errors.As(err, &sdk):
		e.Code, e.Message, e.RequestID = sdk.GetCode(), sdk.GetMessage(), sdk.GetRequestId()
		if e.Code == "" {
			e.Code = string(ClassUnknown)
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		e.Code, e.Message = CodeTimeout, err.Error()
	case errors.Is(err, context.Canceled):
		e.Code, e.Message = CodeCanceled, err.Error()
	default:
		e.Code, e.Message = CodeNetworkError, err.Error()
	}
	e.Class = ClassOf(action, e.Code)
	return e
}

// NewError builds a classified error for action with a code and message,
// as the API would answer it.
func NewError(action, code, message string) *Error {
	return &Error{Action: action, Code: code, Message: message, Class: ClassOf(action, code),
		Err: fmt.Errorf("%s: %s", code, message)}
}
