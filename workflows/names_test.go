package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

func TestWorkflowID(t *testing.T) {
	assert.Equal(t, "clb-drain/lb-abc12345/lbl-abc12345", workflows.WorkflowID("lb-abc12345", "lbl-abc12345", ""))
	assert.Equal(t, "clb-drain/lb-abc12345/lbl-abc12345/loc-abc12345",
		workflows.WorkflowIDFor(workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", LocationId: "loc-abc12345", Domain: "ignored.example.com", Url: "/ignored"}}))
	assert.Equal(t, "clb-drain/lb-abc12345/lbl-abc12345/app.example.com/api",
		workflows.WorkflowIDFor(workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", Domain: "app.example.com", Url: "/api/"}}))
	assert.Equal(t, "clb-drain/lb-abc12345/lbl-abc12345/app.example.com/API",
		workflows.WorkflowIDFor(workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345", Domain: "App.Example.COM", Url: "/API"}}), "the domain ignores case, the path does not")
}

func TestChildOptionsLetTheDrainFinishCleanly(t *testing.T) {
	in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"}}
	opts := workflows.ChildOptions(in)
	assert.Equal(t, workflows.WorkflowIDFor(in), opts.WorkflowID)
	assert.Equal(t, workflows.TaskQueue, opts.TaskQueue)
	assert.Equal(t, enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL, opts.ParentClosePolicy,
		"a parent closing early asks the drain to cancel, so drained weights are restored")
	assert.True(t, opts.WaitForCancellation)
}
