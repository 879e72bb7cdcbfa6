package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	v20180317 "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
)

// The naive script's schedule for DescribeTaskStatus: once at once, then
// after pollFirst, the interval doubling up to pollCap, as the Terraform
// provider's wait (a StateChangeConf with a 0.5 s minimum) and most
// hand-written scripts do.
const (
	pollFirst = 500 * time.Millisecond
	pollCap   = 10 * time.Second
)

// naiveScript deregisters targets as a hand-written loop over the official
// SDK does: chunks of clb.MaxTargetsPerCall, one at a time, each a
// DeregisterTargets call and then DescribeTaskStatus on that schedule until the task succeeds. It returns the first error.
func naiveScript(ctx context.Context, endpoint, lbID, listenerID string, targets []clb.Target) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = u.Host
	cpf.HttpProfile.Scheme = strings.ToUpper(u.Scheme)
	c, err := v20180317.NewClient(common.NewCredential(clbsim.DefaultSecretID, clbsim.DefaultSecretKey), region, cpf)
	if err != nil {
		return err
	}
	for len(targets) > 0 {
		n := min(clb.MaxTargetsPerCall, len(targets))
		req := v20180317.NewDeregisterTargetsRequest()
		req.LoadBalancerId, req.ListenerId = common.StringPtr(lbID), common.StringPtr(listenerID)
		for _, t := range targets[:n] {
			req.Targets = append(req.Targets, &v20180317.Target{InstanceId: common.StringPtr(t.InstanceId), Port: common.Int64Ptr(t.Port)})
		}
		resp, err := c.DeregisterTargetsWithContext(ctx, req)
		if err != nil {
			return err
		}
		if err := waitScript(ctx, c, *resp.Response.RequestId); err != nil {
			return err
		}
		targets = targets[n:]
	}
	return nil
}

// waitScript polls a task at once, then after 0.5 s, 1 s, 2 s... (at most
// 10 s apart) until it succeeds.
func waitScript(ctx context.Context, c *v20180317.Client, taskID string) error {
	wait := pollFirst
	for {
		req := v20180317.NewDescribeTaskStatusRequest()
		req.TaskId = common.StringPtr(taskID)
		resp, err := c.DescribeTaskStatusWithContext(ctx, req)
		if err != nil {
			return err
		}
		switch clb.TaskState(*resp.Response.Status) {
		case clb.TaskSucceeded:
			return nil
		case clb.TaskFailed:
			return fmt.Errorf("task %s failed", taskID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, pollCap)
	}
}
