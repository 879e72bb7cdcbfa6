package workflows_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/workflows"
)

func scheduledInput() workflows.ScheduledDrainInput {
	return workflows.ScheduledDrainInput{Drain: workflows.DrainInput{
		Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"},
		Targets:  []clb.Target{{InstanceId: "ins-abc12345", Port: 80}},
	}}
}

func TestScheduledDrainRunsTheDrainAsAChildUnderTheConventionalID(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.ScheduledDrain, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
	in := scheduledInput()
	var childID string
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, got workflows.DrainInput) (workflows.DrainResult, error) {
		childID = workflow.GetInfo(ctx).WorkflowExecution.ID
		return workflows.DrainResult{Deregistered: weightedAll(got.Targets, 10)}, nil
	}, workflow.RegisterOptions{Name: workflows.WorkflowName})

	env.ExecuteWorkflow(workflows.ScheduledWorkflowName, in)

	require.NoError(t, env.GetWorkflowError())
	var res workflows.DrainResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, keysOf(in.Drain.Targets), keysOf(res.Deregistered))
	assert.Equal(t, workflows.WorkflowIDFor(in.Drain), childID)
}

func TestScheduledDrainIsSkippedWhenADrainOfTheListenerRuns(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.ScheduledDrain, workflow.RegisterOptions{Name: workflows.ScheduledWorkflowName})
	env.RegisterWorkflowWithOptions(func(workflow.Context, workflows.DrainInput) (workflows.DrainResult, error) {
		return workflows.DrainResult{}, nil
	}, workflow.RegisterOptions{Name: workflows.WorkflowName})
	env.OnWorkflow(workflows.WorkflowName, mock.Anything, mock.Anything).
		Return(workflows.DrainResult{}, &temporal.ChildWorkflowExecutionAlreadyStartedError{})

	in := scheduledInput()
	in.DrainWorkflowID = "clb-drain/lb-abc12345/lbl-abc12345"
	env.ExecuteWorkflow(workflows.ScheduledWorkflowName, in)

	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "got %v", err)
	assert.Equal(t, workflows.ErrAlreadyRunning, app.Type())
	assert.Contains(t, app.Error(), "already running as workflow clb-drain/lb-abc12345/lbl-abc12345")
	assert.True(t, app.NonRetryable())
}
