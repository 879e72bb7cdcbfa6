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
// or, with package clbsimtest, which also stops both when the test ends:
//
//	client, sim := clbsimtest.Start(t, clbsim.Config{State: fleet, TaskLatency: 20 * time.Millisecond})
//
// Actions: DeregisterTargets, RegisterTargets, ModifyTargetWeight and
// BatchModifyTargetWeight are async; DescribeTaskStatus, DescribeTargets,
// DescribeListeners, DescribeTargetHealth and DescribeLoadBalancers answer
// at once. Every call goes through, in order:
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
// BatchModifyTargetWeight takes a ModifyList of listeners and rules of one
// load balancer, at most 500 targets in all, each entry validated as
// ModifyTargetWeight is (a target's own Weight wins over its entry's, one of
// them is required); its one task applies every entry. DescribeLoadBalancers
// pages with Offset and Limit (1-100, default 20) in the fleet's order, and
// its BackendPrivateIps match CVM targets only.
//
// # Health
//
// DescribeTargetHealth answers each binding's health as the SDK nests it,
// a layer-4 listener's targets under one rule whose LocationId is the
// listener's id. Config.Health (a HealthModel) decides it: the initial
// fleet's bindings are Alive; a binding RegisterTargets makes is Unknown
// until the model's Delay has passed after its task ended; bindings the
// model names, or draws in its unhealthy share, stay Dead; a health set with
// SetTargetHealth (PUT /_sim/health) wins until the binding is removed.
// DescribeTargets treats ListenerIds, Protocol and Port as filters: a
// listener that does not exist is left out, not an error. DescribeListeners
// answers each listener's ListenerName and the attributes that change what
// a drain means, where the listener has them: DeregisterTargetRst and
// IdleConnectTimeout (TCP), SessionExpireTime (layer 4). They live in the
// fixture (State's ListenerAttributes), with the API's defaults (false,
// 900 and 0) for what it leaves out.
//
// # Dialects
//
// Where no public document pins down how the API behaves, the emulator
// plays one guess by default and a Dialect (Config.Dialect, the --dialect
// flag of cmd/clbsim, PUT /_sim/dialect) selects the others, so that a
// client can be shown correct under each:
//
//   - lingering-lock=DUR: a load balancer stays locked DUR after each task
//     ends. Callers report locks outliving their task after large batches;
//     the task's Status 0 does not promise that the next call goes through.
//   - lock-code=CODE: a locked load balancer answers
//     FailedOperation.InvalidLBStatus, plain FailedOperation or InternalError
//     instead of FailedOperation.ResourceInOperating. All three are met on
//     these actions; one public peer treats InternalError as "busy".
//   - task-expiry=AGE[:CODE]: DescribeTaskStatus of a task that ended more
//     than AGE ago, or of an unknown task, answers InvalidParameter or
//     ResourceNotFound. How long task ids stay queryable is not documented,
//     and a poll may come late (after a worker restart, say).
//   - omit-empty-listeners: DescribeTargets leaves out a listener with no
//     targets left (a layer-4 one with none, a layer-7 one whose rules have
//     none), as an API that lists bindings rather than listeners would.
//   - lowercase-type: DescribeTargets spells backend types cvm and eni, and
//     ENI backends carry an EniId (eni- and 8 characters derived from the
//     address): both spellings are seen, and the SDK's Backend has EniId.
//   - throttle-code=CODE|rotate: throttled answers carry
//     RequestLimitExceeded.UinLimitExceeded, .GlobalRegionUinLimitExceeded
//     or .IPLimitExceeded (or each in turn): the API limits by account,
//     region and IP as well as by action, and says which by sub-code.
//   - plain-not-found: an unknown load balancer or listener answers plain
//     InvalidParameter ("LoadBalancer not exist"), as seen in the wild,
//     instead of InvalidParameter.LBIdNotFound or .ListenerIdNotFound.
//   - all: every variant at once (DialectAll).
//
// See ParseDialect for the spec syntax and Dialect for the JSON form.
//
// Admin routes that inspect and steer the emulator live under "/_sim/" and
// need no signature:
//
//	GET  /_sim/state   what is bound now (the State JSON, also the fixture format)
//	GET  /_sim/stats   requests, errors by code, throttled answers, tasks (Stats)
//	GET  /_sim/audit   every applied change, in order ([]Change)
//	GET  /_sim/faults  the fault spec in force (text)
//	PUT  /_sim/faults  replace the fault spec (text body, see ParseFaults)
//	GET  /_sim/dialect the dialect in force (Dialect's JSON object)
//	PUT  /_sim/dialect replace the dialect, answering the new one: a JSON object,
//	                   or a JSON string holding a spec: '"all"', '"lock-code=InternalError"', '""'
//	POST /_sim/lock    hold a load balancer's lock: {"LoadBalancerId": "lb-...", "Duration": "5s"}
//	PUT  /_sim/health  set a target's health (HealthSetting): {"Target": "ins-abc12345:80", "Healthy": false}
//	GET  /_sim/health-model the health model in force (HealthModel's JSON)
//	PUT  /_sim/health-model replace it: {"Delay": "5s", "Unhealthy": ["10.0.0.5:80"], "UnhealthyShare": 0.1}
//	POST /_sim/reset   back to the initial fleet, with no tasks, stats or audit
//
// The same operations are methods of Server for in-process tests.
package clbsim
