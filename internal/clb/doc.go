// Package clb is clbdrain's only door to the Tencent Cloud CLB API 3.0.
//
// It holds the domain types (Target, Selector, the Listener snapshot that
// DescribeTargets returns, TaskStatus), the small API interface that the
// activities depend on, the Client that implements it on the official
// tencentcloud-sdk-go SDK, endpoint resolution (finance regions), the one
// error-code table that gives each code its class, and input validation
// shared by the workflow and the command-line starter.
package clb
