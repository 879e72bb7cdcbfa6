// Package clbsim is an in-process emulator of the Tencent Cloud CLB API 3.0
// (version 2018-03-17), an http.Handler that clbdrain's production client
// reaches by endpoint override alone: it verifies TC3-HMAC-SHA256
// signatures, answers in the API's shape (HTTP 200, {"Response": {...,
// "RequestId": ...}}), validates as the API does with its own code (not
// clb's), and runs each mutating call as an async task that locks its load
// balancer.
//
// New serves a fleet (State: a fixture file, or Generate) under a Config:
// task latency, rate limit, faults (ParseFaults), API variants (Dialect,
// ParseDialect) and a health model (HealthModel). The admin routes under
// "/_sim/" (state, stats, audit, faults, dialect, lock, health,
// health-model, reset) need no signature; Server has a method for each.
// Tests start it with package clbsimtest, binaries with cmd/clbsim.
//
// The README's "The emulator (clbsim)" section describes its behaviour: the
// actions, the order of checks, tasks and locks, faults, health and dialects.
package clbsim
