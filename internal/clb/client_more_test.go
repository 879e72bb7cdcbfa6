package clb_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/internal/clbsim/clbsimtest"
)

var testMoreWeighted = []clb.WeightedTarget{
	{Target: clb.Target{InstanceId: "ins-abc12345", Port: 80}, Weight: 30},
	{Target: clb.Target{EniIp: "10.0.0.5", Port: 8080}, Weight: 0},
}

var testBatch = []clb.BatchWeightEntry{
	{Selector: testSelector, Targets: testMoreWeighted},
	{Selector: clb.Selector{ListenerId: "lbl-tcp00001"}, Targets: testMoreWeighted[:1]},
}

// TestClientSendsTheNewActions: each new call is signed and sends the body
// the API documents, weights with every target.
func TestClientSendsTheNewActions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		action   string
		call     func(*clb.Client) error
		wantBody string
	}{
		{
			action: clb.ActionRegisterTargets,
			call: func(c *clb.Client) error {
				_, err := c.RegisterTargets(ctx, clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-abc12345"}, testMoreWeighted)
				return err
			},
			wantBody: `{"LoadBalancerId":"lb-abc12345","ListenerId":"lbl-abc12345","Targets":[
				{"InstanceId":"ins-abc12345","Port":80,"Weight":30},{"EniIp":"10.0.0.5","Port":8080,"Weight":0}]}`,
		},
		{
			action: clb.ActionBatchModifyTargetWeight,
			call: func(c *clb.Client) error {
				_, err := c.BatchModifyTargetWeight(ctx, "lb-abc12345", testBatch)
				return err
			},
			wantBody: `{"LoadBalancerId":"lb-abc12345","ModifyList":[
				{"ListenerId":"lbl-abc12345","LocationId":"loc-abc12345","Domain":"www.example.com","Url":"/api","Targets":[
					{"InstanceId":"ins-abc12345","Port":80,"Weight":30},{"EniIp":"10.0.0.5","Port":8080,"Weight":0}]},
				{"ListenerId":"lbl-tcp00001","Targets":[{"InstanceId":"ins-abc12345","Port":80,"Weight":30}]}]}`,
		},
		{
			action: clb.ActionDescribeListeners,
			call: func(c *clb.Client) error {
				_, err := c.DescribeListeners(ctx, "lb-abc12345")
				return err
			},
			wantBody: `{"LoadBalancerId":"lb-abc12345"}`,
		},
		{
			action: clb.ActionDescribeTargetHealth,
			call: func(c *clb.Client) error {
				_, err := c.DescribeTargetHealth(ctx, "lb-abc12345", "lb-def12345")
				return err
			},
			wantBody: `{"LoadBalancerIds":["lb-abc12345","lb-def12345"]}`,
		},
		{
			action: clb.ActionDescribeLoadBalancers,
			call: func(c *clb.Client) error {
				_, err := c.DescribeLoadBalancers(ctx, clb.LoadBalancerQuery{BackendPrivateIps: []string{"10.0.0.4"}, Offset: 100, Limit: 100})
				return err
			},
			wantBody: `{"BackendPrivateIps":["10.0.0.4"],"Offset":100,"Limit":100}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			api := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, got received) {
				if got.Action == clb.ActionDescribeLoadBalancers {
					reply(http.StatusOK, `{"Response":{"TotalCount":0,"LoadBalancerSet":[],"RequestId":"req-1"}}`)(w, r, got)
					return
				}
				reply(http.StatusOK, success(got.Action, "req-1"))(w, r, got)
			})
			require.NoError(t, tt.call(newTestClient(t, api.URL)))
			got := api.requests()
			require.Len(t, got, 1)
			assert.Equal(t, tt.action, got[0].Action)
			assert.JSONEq(t, tt.wantBody, string(got[0].Body))
			assertSignedTC3(t, got[0], testSecretID, testSecretKey)
		})
	}
}

func TestClientNewMutationsReturnTheTask(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(*clb.Client) (string, error){
		clb.ActionRegisterTargets: func(c *clb.Client) (string, error) {
			return c.RegisterTargets(ctx, testSelector, testMoreWeighted)
		},
		clb.ActionBatchModifyTargetWeight: func(c *clb.Client) (string, error) {
			return c.BatchModifyTargetWeight(ctx, "lb-abc12345", testBatch)
		},
	}
	for action, call := range calls {
		t.Run(action+" task id", func(t *testing.T) {
			api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"RequestId":"4d1df727-d61c-45bf-936b-cb0368fb2a7d"}}`))
			taskID, err := call(newTestClient(t, api.URL))
			require.NoError(t, err)
			assert.Equal(t, "4d1df727-d61c-45bf-936b-cb0368fb2a7d", taskID)
		})
		t.Run(action+" without RequestId", func(t *testing.T) {
			api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{}}`))
			taskID, err := call(newTestClient(t, api.URL))
			requireError(t, err, action, clb.CodeParseJSONError, clb.ClassTransient)
			assert.Empty(t, taskID)
		})
	}
}

// TestBatchModifyTargetWeightRefusesBeforeSending: an entry of another load
// balancer (the API's entries carry none, so it would change a listener of
// the call's) and more than 500 targets are refused with nothing sent.
func TestBatchModifyTargetWeightRefusesBeforeSending(t *testing.T) {
	api := newFakeAPI(t, nil)
	c := newTestClient(t, api.URL)
	ctx := context.Background()

	_, err := c.BatchModifyTargetWeight(ctx, "lb-other123", testBatch)
	e := requireError(t, err, clb.ActionBatchModifyTargetWeight, "InvalidParameterValue", clb.ClassCallerError)
	assert.Contains(t, e.Message, "entry 0 names load balancer lb-abc12345, not lb-other123")

	var many []clb.WeightedTarget
	for i := range 251 {
		many = append(many, clb.WeightedTarget{Target: clb.Target{EniIp: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Port: 80}})
	}
	_, err = c.BatchModifyTargetWeight(ctx, "lb-abc12345", []clb.BatchWeightEntry{
		{Selector: clb.Selector{ListenerId: "lbl-abc12345"}, Targets: many},
		{Selector: clb.Selector{ListenerId: "lbl-def12345"}, Targets: many},
	})
	e = requireError(t, err, clb.ActionBatchModifyTargetWeight, "InvalidParameterValue.Length", clb.ClassCallerError)
	assert.Contains(t, e.Message, "502 targets")
	assert.Empty(t, api.requests())

	_, err = c.DescribeListeners(ctx, "lb-abc12345", make([]string, 101)...)
	requireError(t, err, clb.ActionDescribeListeners, "InvalidParameterValue.Length", clb.ClassCallerError)
	assert.Empty(t, api.requests())
}

// TestNewActionsClassifyErrors: InvalidParameter means "already bound" to
// RegisterTargets and "not bound" to BatchModifyTargetWeight (both
// confirmed with DescribeTargets, never retried as such), and stays a
// caller error for the reads; throttling and busy answers keep their
// classes on every new action.
func TestNewActionsClassifyErrors(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(*clb.Client) error{
		clb.ActionRegisterTargets: func(c *clb.Client) error {
			_, err := c.RegisterTargets(ctx, testSelector, testMoreWeighted)
			return err
		},
		clb.ActionBatchModifyTargetWeight: func(c *clb.Client) error {
			_, err := c.BatchModifyTargetWeight(ctx, "lb-abc12345", testBatch)
			return err
		},
		clb.ActionDescribeListeners: func(c *clb.Client) error {
			_, err := c.DescribeListeners(ctx, "lb-abc12345")
			return err
		},
		clb.ActionDescribeTargetHealth: func(c *clb.Client) error {
			_, err := c.DescribeTargetHealth(ctx, "lb-abc12345")
			return err
		},
		clb.ActionDescribeLoadBalancers: func(c *clb.Client) error {
			_, err := c.DescribeLoadBalancers(ctx, clb.LoadBalancerQuery{})
			return err
		},
	}
	invalid := map[string]clb.Class{
		clb.ActionRegisterTargets:         clb.ClassAlreadyBound,
		clb.ActionBatchModifyTargetWeight: clb.ClassNotBound,
		clb.ActionDescribeListeners:       clb.ClassCallerError,
		clb.ActionDescribeTargetHealth:    clb.ClassCallerError,
		clb.ActionDescribeLoadBalancers:   clb.ClassCallerError,
	}
	for action, call := range calls {
		for code, class := range map[string]clb.Class{
			"InvalidParameter":                     invalid[action],
			"RequestLimitExceeded.IPLimitExceeded": clb.ClassThrottled,
			"FailedOperation.ResourceInOperating":  clb.ClassBusy,
			"InvalidParameterValue.Range":          clb.ClassCallerError,
		} {
			t.Run(action+" "+code, func(t *testing.T) {
				api := newFakeAPI(t, reply(http.StatusOK, apiError(code, "echo "+testSecretKey, "req-9")))
				err := call(newTestClient(t, api.URL))
				e := requireError(t, err, action, code, class)
				assert.Equal(t, "req-9", e.RequestID)
			})
		}
	}
}

func TestClientDecodesTheNewAnswers(t *testing.T) {
	ctx := context.Background()

	t.Run("DescribeListeners", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"TotalCount":2,"Listeners":[
			{"ListenerId":"lbl-tcp00001","ListenerName":"web-tcp","Protocol":"TCP","Port":80,"DeregisterTargetRst":true,
			 "IdleConnectTimeout":600,"SessionExpireTime":30,"Scheduler":"WRR","HealthCheck":null},
			null,
			{"ListenerId":"lbl-http0001","Protocol":"HTTP","Port":80,"Rules":[{"LocationId":"loc-rule0001"}]}],"RequestId":"req-1"}}`))
		got, err := newTestClient(t, api.URL).DescribeListeners(ctx, "lb-abc12345", "lbl-tcp00001", "lbl-http0001")
		require.NoError(t, err)
		assert.Equal(t, []clb.ListenerAttributes{
			{ListenerId: "lbl-tcp00001", ListenerName: "web-tcp", Protocol: "TCP", Port: 80, DeregisterTargetRst: ptr(true),
				IdleConnectTimeout: ptr[int64](600), SessionExpireTime: ptr[int64](30)},
			{ListenerId: "lbl-http0001", Protocol: "HTTP", Port: 80, Rules: []clb.Rule{{LocationId: "loc-rule0001"}}},
		}, got)
		assert.Equal(t, `{"LoadBalancerId":"lb-abc12345","ListenerIds":["lbl-tcp00001","lbl-http0001"]}`, string(api.requests()[0].Body))
	})

	t.Run("DescribeListeners listener missing", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"TotalCount":0,"Listeners":[],"RequestId":"req-2"}}`))
		_, err := newTestClient(t, api.URL).DescribeListeners(ctx, "lb-abc12345", "lbl-gone0001")
		e := requireError(t, err, clb.ActionDescribeListeners, "InvalidParameter.ListenerIdNotFound", clb.ClassCallerError)
		assert.Equal(t, "req-2", e.RequestID)
		assert.Contains(t, e.Message, "lbl-gone0001")
	})

	t.Run("DescribeTargetHealth", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"LoadBalancers":[{"LoadBalancerId":"lb-abc12345","LoadBalancerName":null,
			"Listeners":[
				{"ListenerId":"lbl-tcp00001","Protocol":"TCP","Port":80,"Rules":[{"LocationId":"lbl-tcp00001","Domain":null,"Url":null,"Targets":[
					{"IP":"10.0.0.1","Port":8080,"HealthStatus":true,"TargetId":"ins-aaaa0001","HealthStatusDetail":"Alive"},
					{"IP":"10.0.1.5","Port":8080,"HealthStatus":false,"TargetId":"","HealthStatusDetial":"Unknown"},
					null]}]},
				{"ListenerId":"lbl-http0001","Protocol":"HTTP","Port":80,"Rules":[{"LocationId":"loc-rule0001","Domain":"www.example.com","Url":"/api/","Targets":[
					{"IP":"10.0.0.3","Port":9000,"HealthStatus":false,"TargetId":"ins-aaaa0003"}]}]}]}],
			"RequestId":"req-3"}}`))
		got, err := newTestClient(t, api.URL).DescribeTargetHealth(ctx, "lb-abc12345")
		require.NoError(t, err)
		require.Equal(t, []clb.TargetHealth{
			{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-tcp00001"}, IP: "10.0.0.1", TargetId: "ins-aaaa0001", Port: 8080, Healthy: true, Detail: clb.HealthAlive},
			{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-tcp00001"}, IP: "10.0.1.5", Port: 8080, Detail: clb.HealthUnknown},
			{Selector: clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-http0001", LocationId: "loc-rule0001", Domain: "www.example.com", Url: "/api/"},
				IP: "10.0.0.3", TargetId: "ins-aaaa0003", Port: 9000, Detail: clb.HealthDead},
		}, got)
		assert.True(t, got[0].Matches(clb.Target{InstanceId: "ins-aaaa0001", Port: 8080}))
		assert.False(t, got[0].Matches(clb.Target{InstanceId: "ins-aaaa0001", Port: 8081}))
		assert.True(t, got[1].Matches(clb.Target{EniIp: "10.0.1.5", Port: 8080}))
		assert.False(t, got[1].Matches(clb.Target{InstanceId: "ins-aaaa0001", Port: 8080}))
		assert.Equal(t, clb.Selector{LoadBalancerId: "lb-abc12345", ListenerId: "lbl-http0001", LocationId: "loc-rule0001", Domain: "www.example.com", Url: "/api/"}, got[2].Selector)
	})

	t.Run("DescribeLoadBalancers", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"TotalCount":7,"LoadBalancerSet":[
			{"LoadBalancerId":"lb-abc12345","LoadBalancerName":"web","LoadBalancerType":"INTERNAL","Forward":1,"Status":1,
			 "VpcId":"vpc-abc12345","LoadBalancerVips":["10.0.9.1"],"Tags":[],"MasterZone":null},null],"RequestId":"req-4"}}`))
		got, err := newTestClient(t, api.URL).DescribeLoadBalancers(ctx, clb.LoadBalancerQuery{})
		require.NoError(t, err)
		assert.Equal(t, clb.LoadBalancerPage{TotalCount: 7, LoadBalancers: []clb.LoadBalancerSummary{{LoadBalancerId: "lb-abc12345",
			LoadBalancerName: "web", LoadBalancerType: "INTERNAL", Forward: 1, Status: 1, VpcId: "vpc-abc12345", LoadBalancerVips: []string{"10.0.9.1"}}}}, got)
		assert.Equal(t, `{}`, string(api.requests()[0].Body))
	})

	t.Run("DescribeLoadBalancers without TotalCount", func(t *testing.T) {
		api := newFakeAPI(t, reply(http.StatusOK, `{"Response":{"LoadBalancerSet":[],"RequestId":"req-5"}}`))
		_, err := newTestClient(t, api.URL).DescribeLoadBalancers(ctx, clb.LoadBalancerQuery{})
		requireError(t, err, clb.ActionDescribeLoadBalancers, clb.CodeParseJSONError, clb.ClassTransient)
	})
}

// TestAllLoadBalancersPagesExactly lists 250 load balancers from the
// emulator in pages of 100: every one once, in order, and only those with
// a CVM at a private IP when asked.
func TestAllLoadBalancersPagesExactly(t *testing.T) {
	fleet, err := clbsim.Generate(clbsim.GenerateSpec{LoadBalancers: 250, Listeners: 1, Targets: 2}, 7)
	require.NoError(t, err)
	var calls []string
	c, _ := clbsimtest.Start(t, clbsim.Config{State: fleet, Rate: -1}, func(cfg *clb.Config) {
		cfg.OnCall = func(action, code string, _ time.Duration) { calls = append(calls, action+code) }
	})
	got, err := clb.AllLoadBalancers(context.Background(), c, clb.LoadBalancerQuery{Offset: 5, Limit: 3})
	require.NoError(t, err)
	require.Len(t, got, 250)
	for i, lb := range got {
		require.Equal(t, fleet.LoadBalancers[i].LoadBalancerId, lb.LoadBalancerId, "load balancer %d", i)
	}
	assert.Len(t, calls, 3)

	// BackendPrivateIps: the load balancers with a CVM at that address, no
	// other.
	want := fleet.LoadBalancers[120].Listeners[0].Targets[0]
	require.Equal(t, clbsim.TypeCVM, want.Type)
	ip := want.PrivateIpAddresses[0]
	got, err = clb.AllLoadBalancers(context.Background(), c, clb.LoadBalancerQuery{BackendPrivateIps: []string{ip}})
	require.NoError(t, err)
	var ids []string
	for _, lb := range got {
		ids = append(ids, lb.LoadBalancerId)
	}
	var wantIDs []string
	for _, lb := range fleet.LoadBalancers {
		if slices.ContainsFunc(lb.Listeners[0].Targets, func(b clb.BoundTarget) bool {
			return b.Type == clbsim.TypeCVM && slices.Contains(b.PrivateIpAddresses, ip)
		}) {
			wantIDs = append(wantIDs, lb.LoadBalancerId)
		}
	}
	assert.Equal(t, wantIDs, ids)
	assert.Contains(t, ids, fleet.LoadBalancers[120].LoadBalancerId)
}

// pages is a LoadBalancerReader answering canned pages in turn.
type pages []clb.LoadBalancerPage

func (p *pages) DescribeLoadBalancers(_ context.Context, q clb.LoadBalancerQuery) (clb.LoadBalancerPage, error) {
	page := (*p)[0]
	*p = (*p)[1:]
	return page, nil
}

func TestAllLoadBalancersRefusesAnInexactListing(t *testing.T) {
	one := []clb.LoadBalancerSummary{{LoadBalancerId: "lb-abc12345"}}
	for name, ps := range map[string]pages{
		"total changed": {{TotalCount: 2, LoadBalancers: one}, {TotalCount: 3, LoadBalancers: one}},
		"empty page":    {{TotalCount: 2, LoadBalancers: one}, {TotalCount: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := clb.AllLoadBalancers(context.Background(), &ps, clb.LoadBalancerQuery{})
			requireError(t, err, clb.ActionDescribeLoadBalancers, clb.CodeParseJSONError, clb.ClassTransient)
		})
	}
	ps := pages{{TotalCount: 0}}
	got, err := clb.AllLoadBalancers(context.Background(), &ps, clb.LoadBalancerQuery{})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func ptr[T any](v T) *T { return &v }

// rulesOf are rules as DescribeListeners answers them: without targets.
func rulesOf(rules []clb.Rule) []clb.Rule {
	out := make([]clb.Rule, len(rules))
	for i, r := range rules {
		out[i] = clb.Rule{LocationId: r.LocationId, Domain: r.Domain, Url: r.Url}
	}
	return out
}

// TestNewReadsAgainstTheEmulator: the listener attributes of the fixture,
// and the health of a layer-4 listener's targets with no rule named, as
// the production client reads them from the emulator.
func TestNewReadsAgainstTheEmulator(t *testing.T) {
	fleet, err := clbsim.LoadStateFile("../clbsim/testdata/fleet.json")
	require.NoError(t, err)
	c, sim := clbsimtest.Start(t, clbsim.Config{State: fleet})
	ctx := context.Background()

	ls, err := c.DescribeListeners(ctx, "lb-test0001")
	require.NoError(t, err)
	assert.Equal(t, []clb.ListenerAttributes{
		{ListenerId: "lbl-tcp00001", ListenerName: "web-tcp", Protocol: "TCP", Port: 80, DeregisterTargetRst: ptr(true),
			IdleConnectTimeout: ptr[int64](600), SessionExpireTime: ptr[int64](30)},
		{ListenerId: "lbl-http0001", ListenerName: "web-http", Protocol: "HTTP", Port: 80, Rules: rulesOf(fleet.LoadBalancers[0].Listeners[1].Rules)},
	}, ls)
	_, err = c.DescribeListeners(ctx, "lb-test0001", "lbl-tcp00001", "lbl-nothere1")
	requireError(t, err, clb.ActionDescribeListeners, "InvalidParameter.ListenerIdNotFound", clb.ClassCallerError)

	_, err = sim.SetTargetHealth(clbsim.HealthSetting{Target: "10.0.1.5:8080", Healthy: false})
	require.NoError(t, err)
	hs, err := c.DescribeTargetHealth(ctx, "lb-test0001")
	require.NoError(t, err)
	require.Len(t, hs, 7)
	for _, h := range hs[:4] {
		assert.Equal(t, clb.Selector{LoadBalancerId: "lb-test0001", ListenerId: "lbl-tcp00001"}, h.Selector)
		assert.Equal(t, !h.Matches(clb.Target{EniIp: "10.0.1.5", Port: 8080}), h.Healthy, "%+v", h)
	}
	assert.Equal(t, "loc-rule0002", hs[6].LocationId)
	assert.True(t, hs[6].Matches(clb.Target{InstanceId: "ins-aaaa0002", Port: 9000}))
}
