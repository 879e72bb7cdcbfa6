// Package clbsim is an in-process emulator of the Tencent Cloud CLB API 3.0,
// faithful enough that clbdrain's production client talks to it by endpoint
// override alone: requests are POSTed JSON with TC3-HMAC-SHA256 signatures,
// answers and errors have the API's shape (HTTP 200, {"Response": {...,
// "RequestId": "<uuid>"}}), and mutating calls run as async tasks that lock
// their load balancer.
//
// In a test:
//
//	fleet, _ := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 40}, 1)
//	sim, _ := clbsim.New(clbsim.Config{State: fleet, TaskLatency: 20 * time.Millisecond})
//	ts := httptest.NewServer(sim)
//	defer ts.Close()
//	defer sim.Close()
//	client, _ := clb.NewClient(clb.Config{Region: "ap-guangzhou", Endpoint: ts.URL,
//		Credential: common.NewCredential(clbsim.DefaultSecretID, clbsim.DefaultSecretKey)})
//
// Actions: DeregisterTargets, RegisterTargets and ModifyTargetWeight are
// async; DescribeTaskStatus, DescribeTargets, DescribeListeners and
// DescribeLoadBalancers answer at once. Every call goes through, in order:
// protocol checks (POST, application/json, X-TC-Action, X-TC-Version
// 2018-03-17, X-TC-Region), the signature (AuthFailure.*), the rate limit
// per action (RequestLimitExceeded), injected error codes, the action's own
// validation, which is written for this package as the API behaves and does
// not use clb's validation, and then the action.
//
// A mutating call that passes validation creates a task whose id is the
// call's RequestId. The task runs for Config.TaskLatency (plus jitter); while
// it runs, mutating calls on its load balancer answer
// FailedOperation.ResourceInOperating. Its change is applied, and recorded
// in the audit log with the task's completion time, when it completes:
// whenever the Server is next called or inspected after that time, or by a
// timer, whichever comes first, so that changes land even if nobody polls.
// A task made to fail (a taskfail fault) ends with Status 1 and a Message and
// changes nothing.
//
// Targets are matched by key, as clb.Target.Key spells it: a CVM by
// InstanceId and port, an ENI target by address and port. An EniIp names an
// ENI binding only, never a CVM bound by InstanceId that has that address.
// Deregistering or reweighing a target that is not bound, or registering one
// that is, fails the whole call with InvalidParameter naming the targets.
// DescribeTargets treats ListenerIds, Protocol and Port as filters: a
// listener that does not exist is left out, not an error.
//
// Admin routes that inspect and steer the emulator live under "/_sim/" and
// need no signature:
//
//	GET  /_sim/state   what is bound now (the State JSON, also the fixture format)
//	GET  /_sim/stats   requests, errors by code, throttled answers, tasks (Stats)
//	GET  /_sim/audit   every applied change, in order ([]Change)
//	GET  /_sim/faults  the fault spec in force (text)
//	PUT  /_sim/faults  replace the fault spec (text body, see ParseFaults)
//	POST /_sim/lock    hold a load balancer's lock: {"LoadBalancerId": "lb-...", "Duration": "5s"}
//	POST /_sim/reset   back to the initial fleet, with no tasks, stats or audit
//
// The same operations are methods of Server for in-process tests.
package clbsim
