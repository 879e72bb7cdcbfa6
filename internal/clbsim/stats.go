package clbsim

import (
	"maps"
	"strings"
	"time"
)

// ActionStats counts the calls of one action.
type ActionStats struct {
	// Requests is every call that named the action, answered or not.
	Requests int `json:"Requests"`
	// Errors counts error answers by code, throttled ones included.
	Errors map[string]int `json:"Errors,omitempty"`
	// Throttled counts RequestLimitExceeded answers, sub-codes such as
	// RequestLimitExceeded.UinLimitExceeded included.
	Throttled int `json:"Throttled"`
	// Dropped counts calls whose answer a drop fault withheld.
	Dropped int `json:"Dropped"`
	// MaxPerSecond is the most calls accepted by the rate limit in any one
	// second (a sliding window).
	MaxPerSecond int `json:"MaxPerSecond"`
}

// Stats is what the emulator has seen since it started or was reset.
type Stats struct {
	// Actions holds the counts of each action by name.
	Actions map[string]ActionStats `json:"Actions"`
	// TasksCreated counts the async tasks of accepted mutating calls.
	TasksCreated int `json:"TasksCreated"`
	// TasksSucceeded and TasksFailed count the tasks that ended.
	TasksSucceeded int `json:"TasksSucceeded"`
	TasksFailed    int `json:"TasksFailed"`
	// TasksRunning counts the tasks not yet ended.
	TasksRunning int `json:"TasksRunning"`
}

// actionCounter is an action's live counts and rate-limit window.
type actionCounter struct {
	stats ActionStats
	// accepted are the times of the calls accepted in the last second,
	// oldest first.
	accepted []time.Time
}

// admit applies the rate limit (rate <= 0: none) at time now and reports
// whether the call is accepted.
func (c *actionCounter) admit(now time.Time, rate int) bool {
	cut := now.Add(-time.Second)
	i := 0
	for i < len(c.accepted) && !c.accepted[i].After(cut) {
		i++
	}
	c.accepted = c.accepted[i:]
	if rate > 0 && len(c.accepted) >= rate {
		return false
	}
	c.accepted = append(c.accepted, now)
	c.stats.MaxPerSecond = max(c.stats.MaxPerSecond, len(c.accepted))
	return true
}

func (c *actionCounter) countError(code string) {
	if c.stats.Errors == nil {
		c.stats.Errors = map[string]int{}
	}
	c.stats.Errors[code]++
	if code == codeRequestLimit || strings.HasPrefix(code, codeRequestLimit+".") {
		c.stats.Throttled++
	}
}

func (c *actionCounter) snapshot() ActionStats {
	s := c.stats
	s.Errors = maps.Clone(s.Errors)
	return s
}
