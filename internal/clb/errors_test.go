package clb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// TestClassOfEveryDocumentedCode covers every code of
// /work/shared/reference/clb-api.md and the DeregisterTargets page, on
// DeregisterTargets and on another action (DescribeTargets), plus the codes
// the client makes itself.
func TestClassOfEveryDocumentedCode(t *testing.T) {
	tests := []struct {
		code       string
		deregister clb.Class
		elsewhere  clb.Class
	}{
		// Listed on the DeregisterTargets page.
		{"FailedOperation", clb.ClassBusy, clb.ClassUnknown},
		{"InternalError", clb.ClassTransient, clb.ClassTransient},
		{"InvalidParameter", clb.ClassNotBound, clb.ClassCallerError},
		{"InvalidParameter.FormatError", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameterValue", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameterValue.Duplicate", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameterValue.Length", clb.ClassCallerError, clb.ClassCallerError},
		{"MissingParameter", clb.ClassCallerError, clb.ClassCallerError},
		{"UnauthorizedOperation", clb.ClassDenied, clb.ClassDenied},
		// Met by real callers of these actions.
		{"FailedOperation.ResourceInOperating", clb.ClassBusy, clb.ClassBusy},
		{"FailedOperation.InvalidLBStatus", clb.ClassBusy, clb.ClassBusy},
		{"RequestLimitExceeded", clb.ClassThrottled, clb.ClassThrottled},
		{"RequestLimitExceeded.UinLimitExceeded", clb.ClassThrottled, clb.ClassThrottled},
		{"RequestLimitExceeded.IPLimitExceeded", clb.ClassThrottled, clb.ClassThrottled},
		{"RequestLimitExceeded.GlobalRegionUinLimitExceeded", clb.ClassThrottled, clb.ClassThrottled},
		{"AuthFailure", clb.ClassDenied, clb.ClassDenied},
		{"AuthFailure.SignatureFailure", clb.ClassDenied, clb.ClassDenied},
		{"AuthFailure.SignatureExpire", clb.ClassClockSkew, clb.ClassClockSkew},
		{"AuthFailure.SecretIdNotFound", clb.ClassDenied, clb.ClassDenied},
		{"AuthFailure.TokenFailure", clb.ClassDenied, clb.ClassDenied},
		{"ResourceNotFound", clb.ClassCallerError, clb.ClassCallerError},
		{"ResourceUnavailable", clb.ClassBusy, clb.ClassBusy},
		{"ResourceInUse", clb.ClassBusy, clb.ClassBusy},
		{"LimitExceeded", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameter.LBIdNotFound", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameter.ListenerIdNotFound", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameter.LocationNotFound", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameter.RegionNotFound", clb.ClassCallerError, clb.ClassCallerError},
		{"InvalidParameterValue.Range", clb.ClassCallerError, clb.ClassCallerError},
		{"UnsupportedOperation", clb.ClassCallerError, clb.ClassCallerError},
		// Made by the client.
		{clb.CodeNetworkError, clb.ClassTransient, clb.ClassTransient},
		{clb.CodeTimeout, clb.ClassTransient, clb.ClassTransient},
		{clb.CodeHTTPStatus, clb.ClassTransient, clb.ClassTransient},
		{clb.CodeIOError, clb.ClassTransient, clb.ClassTransient},
		{clb.CodeParseJSONError, clb.ClassTransient, clb.ClassTransient},
		{clb.CodeCanceled, clb.ClassTransient, clb.ClassTransient},
		{clb.CodeNoCredential, clb.ClassCallerError, clb.ClassCallerError},
		// Unlisted: the prefix decides, else unknown.
		{"AuthFailure.Whatever", clb.ClassDenied, clb.ClassDenied},
		{"RequestLimitExceeded.Foo", clb.ClassThrottled, clb.ClassThrottled},
		{"InvalidParameterValue.Something", clb.ClassCallerError, clb.ClassCallerError},
		{"UnsupportedOperation.Whatever", clb.ClassCallerError, clb.ClassCallerError},
		{"ResourceUnavailable.Whatever", clb.ClassBusy, clb.ClassBusy},
		{"InternalError.DbError", clb.ClassTransient, clb.ClassTransient},
		{"FailedOperation.Whatever", clb.ClassBusy, clb.ClassUnknown},
		{"Foo.Bar", clb.ClassUnknown, clb.ClassUnknown},
		{"Foo", clb.ClassUnknown, clb.ClassUnknown},
		{"ClientError.CircuitBreakerError", clb.ClassUnknown, clb.ClassUnknown},
		{"", clb.ClassUnknown, clb.ClassUnknown},
		// Codes are case-sensitive, as the API spells them.
		{"internalerror", clb.ClassUnknown, clb.ClassUnknown},
	}
	// Where an action reads a code its own way: a lock-shaped answer to a
	// mutating call, an unknown task id.
	byAction := map[[2]string]clb.Class{
		{clb.ActionModifyTargetWeight, "FailedOperation"}:               clb.ClassBusy,
		{clb.ActionModifyTargetWeight, "FailedOperation.Whatever"}:      clb.ClassBusy,
		{clb.ActionModifyTargetWeight, "InvalidParameter"}:              clb.ClassNotBound,
		{clb.ActionBatchModifyTargetWeight, "FailedOperation"}:          clb.ClassBusy,
		{clb.ActionBatchModifyTargetWeight, "FailedOperation.Whatever"}: clb.ClassBusy,
		{clb.ActionBatchModifyTargetWeight, "InvalidParameter"}:         clb.ClassNotBound,
		{clb.ActionDescribeTaskStatus, "InvalidParameter"}:              clb.ClassTaskUnknown,
		{clb.ActionDescribeTaskStatus, "ResourceNotFound"}:              clb.ClassTaskUnknown,
	}
	want := func(action string, tt struct {
		code       string
		deregister clb.Class
		elsewhere  clb.Class
	}) clb.Class {
		if c, ok := byAction[[2]string{action, tt.code}]; ok {
			return c
		}
		return tt.elsewhere
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			assert.Equal(t, tt.deregister, clb.ClassOf(clb.ActionDeregisterTargets, tt.code), "DeregisterTargets")
			assert.Equal(t, tt.elsewhere, clb.ClassOf(clb.ActionDescribeTargets, tt.code), "DescribeTargets")
			assert.Equal(t, want(clb.ActionModifyTargetWeight, tt), clb.ClassOf(clb.ActionModifyTargetWeight, tt.code), "ModifyTargetWeight")
			assert.Equal(t, want(clb.ActionBatchModifyTargetWeight, tt), clb.ClassOf(clb.ActionBatchModifyTargetWeight, tt.code), "BatchModifyTargetWeight")
			assert.Equal(t, want(clb.ActionDescribeTaskStatus, tt), clb.ClassOf(clb.ActionDescribeTaskStatus, tt.code), "DescribeTaskStatus")

			e := clb.NewError(clb.ActionDeregisterTargets, tt.code, "message")
			assert.Equal(t, tt.deregister, e.Class)
		})
	}
}

func TestClassifySDKErrors(t *testing.T) {
	err := tcerr.NewTencentCloudSDKError("FailedOperation.ResourceInOperating", "Your task is working", "req-1")
	e := clb.Classify(clb.ActionDeregisterTargets, err)
	require.NotNil(t, e)
	assert.Equal(t, &clb.Error{Action: clb.ActionDeregisterTargets, Code: "FailedOperation.ResourceInOperating",
		Message: "Your task is working", RequestID: "req-1", Class: clb.ClassBusy, Err: err}, e)
	assert.Equal(t, "DeregisterTargets: FailedOperation.ResourceInOperating: Your task is working (RequestId req-1)", e.Error())
	assert.ErrorIs(t, e, err)

	wrapped := fmt.Errorf("calling the API: %w", tcerr.NewTencentCloudSDKError("InvalidParameter", "not bound", "req-2"))
	assert.Equal(t, clb.ClassNotBound, clb.Classify(clb.ActionDeregisterTargets, wrapped).Class)
	assert.Equal(t, clb.ClassNotBound, clb.Classify(clb.ActionModifyTargetWeight, wrapped).Class)
	assert.Equal(t, clb.ClassCallerError, clb.Classify(clb.ActionDescribeTargets, wrapped).Class)

	network := clb.Classify(clb.ActionDescribeTargets, tcerr.NewTencentCloudSDKError(clb.CodeNetworkError, "Fail to get response", ""))
	assert.Equal(t, "DescribeTargets: ClientError.NetworkError: Fail to get response", network.Error())
	assert.Equal(t, clb.ClassTransient, network.Class)
}

func TestClassifyPassesClassifiedErrors(t *testing.T) {
	assert.Nil(t, clb.Classify(clb.ActionDeregisterTargets, nil))
	orig := clb.NewError(clb.ActionDescribeTaskStatus, "InternalError", "boom")
	assert.Same(t, orig, clb.Classify(clb.ActionDeregisterTargets, orig))
	assert.Same(t, orig, clb.Classify(clb.ActionDeregisterTargets, fmt.Errorf("wrapped: %w", orig)))
	assert.Equal(t, "DescribeTaskStatus: InternalError: boom", orig.Error())
	assert.EqualError(t, errors.Unwrap(orig), "InternalError: boom")
}

func TestClassifyContextAndNetworkErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}
	tests := []struct {
		name  string
		err   error
		code  string
		class clb.Class
	}{
		{"deadline", context.DeadlineExceeded, clb.CodeTimeout, clb.ClassTransient},
		{"wrapped deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), clb.CodeTimeout, clb.ClassTransient},
		{"url deadline", &url.Error{Op: "Post", URL: "https://clb.tencentcloudapi.com/", Err: context.DeadlineExceeded}, clb.CodeTimeout, clb.ClassTransient},
		{"network timeout", dialTimeout, clb.CodeTimeout, clb.ClassTransient},
		{"canceled", context.Canceled, clb.CodeCanceled, clb.ClassTransient},
		{"wrapped canceled", fmt.Errorf("waiting: %w", context.Canceled), clb.CodeCanceled, clb.ClassTransient},
		{"connection refused", refused, clb.CodeNetworkError, clb.ClassTransient},
		{"connection closed", &url.Error{Op: "Post", URL: "https://clb.tencentcloudapi.com/", Err: io.EOF}, clb.CodeNetworkError, clb.ClassTransient},
		{"anything else", errors.New("something broke"), clb.CodeNetworkError, clb.ClassTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := clb.Classify(clb.ActionDeregisterTargets, tt.err)
			require.NotNil(t, e)
			assert.Equal(t, tt.code, e.Code)
			assert.Equal(t, tt.class, e.Class)
			assert.Equal(t, tt.err.Error(), e.Message)
			assert.Empty(t, e.RequestID)
			assert.ErrorIs(t, e, tt.err)
		})
	}
}

// timeoutError is a net.Error that timed out, as a dialer reports it.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestNewError(t *testing.T) {
	e := clb.NewError(clb.ActionDeregisterTargets, "InvalidParameter", "rs not bound")
	assert.Equal(t, clb.ClassNotBound, e.Class)
	assert.Equal(t, "DeregisterTargets: InvalidParameter: rs not bound", e.Error())
	e = clb.NewError(clb.ActionDescribeTargets, "RequestLimitExceeded", "")
	assert.Equal(t, "DescribeTargets: RequestLimitExceeded", e.Error())
	assert.Equal(t, clb.ClassThrottled, e.Class)
}
