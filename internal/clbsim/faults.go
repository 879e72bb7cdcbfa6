package clbsim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// FaultKind is what a Fault does.
type FaultKind string

// The kinds of fault.
const (
	// FaultError answers an error code instead of handling the call; nothing
	// changes.
	FaultError FaultKind = "error"
	// FaultDrop handles the call (a mutating call's task is created and
	// runs) and then closes the connection without an answer.
	FaultDrop FaultKind = "drop"
	// FaultTaskFail makes a mutating call's task end with Status 1 and a
	// Message; nothing is applied.
	FaultTaskFail FaultKind = "taskfail"
	// FaultLatency delays the handling of the call, in wall-clock time
	// whatever the Server's Clock.
	FaultLatency FaultKind = "latency"
)

// AnyAction in a Fault's Action matches every action.
const AnyAction = "*"

// Fault is one entry of a fault spec.
type Fault struct {
	// Action is the API action it applies to, or AnyAction.
	Action string `json:"Action"`
	// Kind is what it does.
	Kind FaultKind `json:"Kind"`
	// Code is the error code a FaultError answers.
	Code string `json:"Code,omitempty"`
	// Probability is the chance, 0-1, that it applies to a call.
	Probability float64 `json:"Probability"`
	// Latency is the delay of a FaultLatency.
	Latency time.Duration `json:"Latency,omitempty"`
}

// String is the entry in spec syntax (see ParseFaults).
func (f Fault) String() string {
	p := strconv.FormatFloat(f.Probability, 'g', -1, 64)
	switch f.Kind {
	case FaultError:
		return f.Action + ":" + f.Code + ":" + p
	case FaultLatency:
		if f.Probability >= 1 {
			return f.Action + ":latency:" + f.Latency.String()
		}
		return f.Action + ":latency:" + f.Latency.String() + ":" + p
	}
	return f.Action + ":" + string(f.Kind) + ":" + p
}

// Faults is a fault spec: every entry whose Action matches a call may apply
// to it.
type Faults []Fault

// String is the spec in the syntax ParseFaults reads.
func (fs Faults) String() string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// ParseFaults reads a fault spec: comma-separated entries ACTION:CODE:P,
// ACTION:drop:P, ACTION:taskfail:P or ACTION:latency:DUR[:P], where ACTION
// is an action name or *, P a probability 0-1 and DUR a Go duration; for
// instance "DeregisterTargets:InternalError:0.1,*:latency:200ms". An empty
// spec means no faults; a bad entry is an error that quotes it. The README
// ("The emulator (clbsim)") says what each kind does and how they combine.
func ParseFaults(spec string) (Faults, error) {
	var out Faults
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		f, err := parseFault(entry)
		if err != nil {
			return nil, fmt.Errorf("clbsim: fault %q: %w", entry, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFault(entry string) (Fault, error) {
	parts := strings.Split(entry, ":")
	if len(parts) < 3 || len(parts) > 4 {
		return Fault{}, fmt.Errorf("want ACTION:KIND:VALUE")
	}
	f := Fault{Action: parts[0], Probability: 1}
	if f.Action != AnyAction && actions[f.Action] == nil {
		return Fault{}, fmt.Errorf("unknown action %q (use an action name or *)", f.Action)
	}
	if len(parts) == 4 && parts[1] != string(FaultLatency) {
		return Fault{}, fmt.Errorf("only latency takes a fourth field")
	}
	switch kind := FaultKind(parts[1]); kind {
	case FaultLatency:
		f.Kind = kind
		d, err := time.ParseDuration(parts[2])
		if err != nil || d < 0 {
			return Fault{}, fmt.Errorf("latency %q is not a non-negative duration", parts[2])
		}
		f.Latency = d
		if len(parts) == 4 {
			p, err := parseProbability(parts[3])
			if err != nil {
				return Fault{}, err
			}
			f.Probability = p
		}
		return f, nil
	case FaultDrop, FaultTaskFail:
		f.Kind = kind
	default:
		if !validCode(parts[1]) {
			return Fault{}, fmt.Errorf("%q is neither drop, taskfail, latency nor an error code", parts[1])
		}
		f.Kind, f.Code = FaultError, parts[1]
	}
	p, err := parseProbability(parts[2])
	if err != nil {
		return Fault{}, err
	}
	f.Probability = p
	return f, nil
}

func parseProbability(s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p < 0 || p > 1 {
		return 0, fmt.Errorf("probability %q is not a number from 0 to 1", s)
	}
	return p, nil
}

// validCode accepts dotted names that start with a capital letter, such as
// InternalError or RequestLimitExceeded.UinLimitExceeded.
func validCode(code string) bool {
	for part := range strings.SplitSeq(code, ".") {
		if part == "" || part[0] < 'A' || part[0] > 'Z' {
			return false
		}
		for _, c := range []byte(part) {
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
				return false
			}
		}
	}
	return true
}

// faultPlan is what the faults decided for one call.
type faultPlan struct {
	latency  time.Duration
	code     string
	drop     bool
	taskFail bool
}

// plan draws the faults of a call. Draws are made only for entries that
// match, so that a seed gives the same decisions for the same calls.
func (fs Faults) plan(action string, mutating bool, rng *rand.Rand) faultPlan {
	var p faultPlan
	var codeDraw, dropChance, failChance float64
	drawn := false
	for _, f := range fs {
		if f.Action != AnyAction && f.Action != action {
			continue
		}
		switch f.Kind {
		case FaultLatency:
			if f.Probability >= 1 || rng.Float64() < f.Probability {
				p.latency += f.Latency
			}
		case FaultError:
			if !drawn {
				codeDraw, drawn = rng.Float64(), true
			}
			if p.code == "" && codeDraw < f.Probability {
				p.code = f.Code
			}
			codeDraw -= f.Probability
		case FaultDrop:
			dropChance += f.Probability
		case FaultTaskFail:
			if mutating {
				failChance += f.Probability
			}
		}
	}
	p.drop = dropChance > 0 && rng.Float64() < dropChance
	p.taskFail = failChance > 0 && rng.Float64() < failChance
	return p
}
