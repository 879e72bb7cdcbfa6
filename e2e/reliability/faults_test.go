package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/clbdrain/clbdrain/e2e/harness"
	"github.com/clbdrain/clbdrain/internal/clb"
	"github.com/clbdrain/clbdrain/internal/clbsim"
	"github.com/clbdrain/clbdrain/workflows"
)

// The faults of the cloud scenario: an InternalError answer on 10% of all
// calls, 5% of DeregisterTargets calls applied but their answer dropped,
// 5% of tasks failed; throttling bursts add RequestLimitExceeded on half
// the calls for a second at a time. busyCode answers a call on a locked
// load balancer.
const (
	busyCode       = "FailedOperation.ResourceInOperating"
	cloudFaults    = "*:InternalError:0.1,DeregisterTargets:drop:0.05,*:taskfail:0.05"
	throttleBurst  = "*:RequestLimitExceeded:0.5"
	throttleLength = time.Second
	// spellLength is how long DescribeTaskStatus is throttled without a
	// break, once: long enough for more throttled polls than the transient
	// class's bound, so that an InternalError after it tells whether the
	// bound counts the transient faults or every fault.
	spellLength = 12 * time.Second
)

// maxCallsPerTarget bounds the CLB API calls per target of the cloud
// scenario, every call counted (snapshots, re-checks, polls, retries,
// throttled and failed ones). Measured: 0.29 to 0.40 with the faults, the
// spell, the bursts and the locks (0.2 without: per 20 targets a
// DeregisterTargets and one or two polls, and as much again with a drain
// phase). Twice the measure leaves room for unlucky draws and fails a retry
// storm.
const maxCallsPerTarget = 0.75

// Four drains at once, on four load balancers (two layer-4 listeners, two
// layer-7 rules; two with a drain phase), on two worker processes that split
// the API budget (10 requests/s per action each), while clbsim answers
// InternalError, drops answers after applying the change, fails tasks,
// throttles in bursts (and once DescribeTaskStatus for spellLength, then
// answers InternalError: throttling must not spend the retries of a
// transient fault), and a competing writer takes the load balancers' locks
// now and then (FailedOperation.ResourceInOperating). Every drain completes
// with the exact final state, and the calls per target stay under
// maxCallsPerTarget.
func TestCloudFaults(t *testing.T) {
	faults := parseFaultSet(t)
	spec := clbsim.GenerateSpec{LoadBalancers: 4, Listeners: 2, Layer7: 1, Rules: 2, Targets: 150, ENI: 0.2}
	sc := newScenario(t, 3, "cloud faults", "faults", spec,
		clbsim.Config{TaskLatency: 100 * time.Millisecond, TaskJitter: 100 * time.Millisecond, Faults: faults.base})

	var ins []workflows.DrainInput
	var requested []harness.Binding
	for i, lb := range sc.initial.LoadBalancers {
		l, _ := harness.Listener(lb, i%2 == 1)
		in := workflows.DrainInput{Selector: clb.Selector{LoadBalancerId: lb.LoadBalancerId, ListenerId: l.ListenerId}, Reason: "reliability: cloud faults"}
		bound := l.Targets
		if len(l.Rules) > 0 {
			in.LocationId, bound = l.Rules[i%len(l.Rules)].LocationId, l.Rules[i%len(l.Rules)].Targets
		}
		in.Targets = sample(sc.rng, harness.TargetsOf(bound), 150)
		if i < 2 {
			in.DrainDelay = time.Second
		}
		ins = append(ins, in)
		requested = append(requested, harness.BindingsOf(in.Selector, in.Targets)...)
	}

	sc.startWorker("CLBDRAIN_API_RATE=10")
	sc.startWorker("CLBDRAIN_API_RATE=10")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	runs := make([]client.WorkflowRun, len(ins))
	for i, in := range ins {
		runs[i] = sc.start(ctx, in, "")
	}

	// The disruptions, one at a time in a seeded order, until every drain
	// has ended.
	stop := make(chan struct{})
	disrupted := make(chan map[string]int)
	go func(rng *rand.Rand) {
		disrupted <- disrupt(sc.sim, faults, rng, stop)
	}(rand.New(rand.NewPCG(sc.rng.Uint64(), sc.seed)))

	results := make([]workflows.DrainResult, len(runs))
	errs := make([]error, len(runs))
	var done sync.WaitGroup
	for i, run := range runs {
		done.Go(func() { errs[i] = run.Get(ctx, &results[i]) })
	}
	done.Wait()
	close(stop)
	events := <-disrupted
	sc.sim.SetFaults(nil)

	completed := 0
	for i, err := range errs {
		if assert.NoError(t, err, "drain %d", i) {
			completed++
			assert.Len(t, results[i].Deregistered, len(ins[i].Targets), "drain %d", i)
		}
	}
	st := sc.sim.Stats()
	count := func(code string) int { return answered(st, code) }
	dropped := st.Actions[clb.ActionDeregisterTargets].Dropped
	sc.row.Injected = fmt.Sprintf("InternalError 10%% (%d), DeregisterTargets drop 5%% +%d forced (%d), taskfail 5%% +%d forced (%d), "+
		"RequestLimitExceeded %s DescribeTaskStatus spell then InternalError + 50%% bursts ×%d (%d), lock held ×%d (%d ResourceInOperating)",
		count("InternalError"), events[eventDrop], dropped, events[eventTaskFail], st.TasksFailed,
		spellLength, events[eventBurst], count("RequestLimitExceeded"), events[eventLock], count(busyCode))
	sc.account(requested, "InternalError", "RequestLimitExceeded", busyCode)
	perTarget := float64(sc.row.APICalls) / float64(len(requested))
	sc.row.Outcome = fmt.Sprintf("%d/%d drains completed, %.2f calls/target (bound %.2f)", completed, len(runs), perTarget, maxCallsPerTarget)
	assert.LessOrEqual(t, perTarget, maxCallsPerTarget, "API calls per target")
	for _, e := range []string{eventSpell, eventBurst, eventLock, eventDrop, eventTaskFail} {
		assert.Positive(t, events[e], "the disruptions include %s", e)
	}
	assert.Positive(t, count("InternalError"), "InternalError was answered")
	assert.Positive(t, dropped, "an answer was dropped")
	assert.Positive(t, st.TasksFailed, "a task failed")
	assert.Positive(t, count("RequestLimitExceeded"), "throttling was met")
	assert.Positive(t, count(busyCode), "a held lock was met")
}

// The disruptions of the cloud scenario.
const (
	// eventBurst adds throttleBurst to the faults for throttleLength.
	eventBurst = "throttle burst"
	// eventLock makes a competing writer hold the lock of every load
	// balancer until a drain has met it (ResourceInOperating).
	eventLock = "lock"
	// eventDrop drops the answer of the next DeregisterTargets call that
	// is applied, whatever the draws of the base faults.
	eventDrop = "forced drop"
	// eventTaskFail fails the next task, likewise.
	eventTaskFail = "forced task failure"
	// eventSpell throttles DescribeTaskStatus for spellLength, then
	// answers its next call InternalError.
	eventSpell = "throttling spell"
)

// faultSet holds the fault specs of the cloud scenario: the base faults,
// and the base faults with each disruption's faults added.
type faultSet struct {
	base, burst, drop, taskFail, spell, spellEnd clbsim.Faults
}

func parseFaultSet(t *testing.T) faultSet {
	t.Helper()
	parse := func(spec string) clbsim.Faults {
		f, err := clbsim.ParseFaults(spec)
		require.NoError(t, err)
		return f
	}
	return faultSet{
		base:     parse(cloudFaults),
		burst:    parse(cloudFaults + "," + throttleBurst),
		drop:     parse(cloudFaults + ",DeregisterTargets:drop:1"),
		taskFail: parse(cloudFaults + ",*:taskfail:1"),
		spell:    parse(cloudFaults + ",DescribeTaskStatus:RequestLimitExceeded:1"),
		spellEnd: parse("DescribeTaskStatus:InternalError:1"),
	}
}

// disrupt runs disruptions on sim, one at a time with a pause of 0.5 to
// 1.5 s before each, in rounds that take every kind once in a seeded
// order, until stop is closed; between them the base faults are in force.
// It returns how many of each kind took effect.
func disrupt(sim *harness.Sim, faults faultSet, rng *rand.Rand, stop <-chan struct{}) map[string]int {
	// until keeps extra faults in force until changed reports that they
	// took effect, or stop is closed.
	until := func(extra clbsim.Faults, changed func(clbsim.Stats) bool) bool {
		sim.SetFaults(extra)
		defer sim.SetFaults(faults.base)
		for {
			if changed(sim.Stats()) {
				return true
			}
			if !pause(stop, 10*time.Millisecond) {
				return false
			}
		}
	}
	kinds := []string{eventBurst, eventLock, eventDrop, eventTaskFail}
	lbs := sim.State().LoadBalancers
	done := map[string]int{}

	// First, once every drain deregisters, a throttling spell on
	// DescribeTaskStatus, then an InternalError for the next poll.
	if !until(faults.base, func(st clbsim.Stats) bool { return st.Actions[clb.ActionDeregisterTargets].Requests >= 2*len(lbs) }) {
		return done
	}
	sim.SetFaults(faults.spell)
	if !pause(stop, spellLength) {
		return done
	}
	before := sim.Stats().Actions[clb.ActionDescribeTaskStatus].Errors["InternalError"]
	if until(faults.spellEnd, func(st clbsim.Stats) bool {
		return st.Actions[clb.ActionDescribeTaskStatus].Errors["InternalError"] > before
	}) {
		done[eventSpell]++
	}
	for {
		rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
		for _, kind := range kinds {
			if !pause(stop, 500*time.Millisecond+time.Duration(rng.IntN(1000))*time.Millisecond) {
				return done
			}
			ok := true
			switch before := sim.Stats(); kind {
			case eventBurst:
				sim.SetFaults(faults.burst)
				pause(stop, throttleLength)
				sim.SetFaults(faults.base)
			case eventLock:
				ok = until(faults.base, func(st clbsim.Stats) bool {
					if answered(st, busyCode) > answered(before, busyCode) {
						return true
					}
					for _, lb := range lbs {
						if _, err := sim.HoldLock(lb.LoadBalancerId, 500*time.Millisecond); err != nil {
							panic(err)
						}
					}
					return false
				})
			case eventDrop:
				ok = until(faults.drop, func(st clbsim.Stats) bool {
					return st.Actions[clb.ActionDeregisterTargets].Dropped > before.Actions[clb.ActionDeregisterTargets].Dropped
				})
			case eventTaskFail:
				ok = until(faults.taskFail, func(st clbsim.Stats) bool { return st.TasksCreated > before.TasksCreated })
			}
			if ok {
				done[kind]++
			}
		}
	}
}

// pause waits d, and reports false if stop was closed meanwhile.
func pause(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// answered counts the answers of an emulator with an error code.
func answered(st clbsim.Stats, code string) int {
	n := 0
	for _, a := range st.Actions {
		n += a.Errors[code]
	}
	return n
}
