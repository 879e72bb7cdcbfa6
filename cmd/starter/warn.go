package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

// Environment variables of the before-start check, besides clb.EnvSecretID,
// clb.EnvSecretKey and clb.EnvSessionToken: the worker's own.
const (
	envRegion      = "TENCENTCLOUD_REGION"
	envCLBEndpoint = "CLB_ENDPOINT"
)

// preflightTimeout bounds the before-start read of the listener.
const preflightTimeout = 10 * time.Second

// getenv reads the environment (a.env in tests).
func (a *app) getenv(key string) string {
	if a.env == nil {
		return ""
	}
	return a.env(key)
}

// preflight warns, before a drain starts, of what it will do to the
// listener's live connections (clb.DrainWarnings), when the environment
// has CLB credentials (TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY)
// to read the listener's attributes with. It never keeps the drain from
// starting: a failure to read them is a one-line note on stderr.
func (a *app) preflight(ctx context.Context, c *drainCmd, in workflows.DrainInput) {
	id, key := a.getenv(clb.EnvSecretID), a.getenv(clb.EnvSecretKey)
	if id == "" || key == "" {
		return
	}
	region := firstOf(c.region, a.getenv(envRegion))
	if region == "" {
		a.errorf("drain", "note: not checking the listener's attributes: no --region (or %s)", envRegion)
		return
	}
	client, err := clb.NewClient(clb.Config{Region: region, Endpoint: firstOf(c.clbEndpoint, a.getenv(envCLBEndpoint)),
		Credential: common.NewTokenCredential(id, key, a.getenv(clb.EnvSessionToken)), Timeout: preflightTimeout})
	if err != nil {
		a.errorf("drain", "note: not checking the listener's attributes: %s", oneLine(err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	ls, err := client.DescribeListeners(ctx, in.LoadBalancerId, in.ListenerId)
	if err != nil {
		a.errorf("drain", "note: could not read the attributes of listener %s: %s", in.ListenerId, oneLine(err.Error()))
		return
	}
	for _, l := range ls {
		if l.ListenerId == in.ListenerId {
			a.warn("drain", clb.DrainWarnings(l, in.DrainDelay))
		}
	}
}

// firstOf is the first of values that is not empty.
func firstOf(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// warn prints on stderr each of warnings that this command has not
// printed yet: the before-start check, the progress and the result may
// each carry the same.
func (a *app) warn(cmd string, warnings []string) {
	a.printWarnings(cmd, a.fresh(warnings))
}

// printWarnings prints each of warnings on stderr.
func (a *app) printWarnings(cmd string, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "%s %s: warning: %s\n", a.prog, cmd, w)
	}
}

// fresh are the warnings not printed yet, now counted as printed.
func (a *app) fresh(warnings []string) []string {
	var out []string
	for _, w := range warnings {
		if a.warned[w] {
			continue
		}
		if a.warned == nil {
			a.warned = map[string]bool{}
		}
		a.warned[w] = true
		out = append(out, w)
	}
	return out
}
