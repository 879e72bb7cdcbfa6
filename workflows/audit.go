package workflows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// The audit search attributes every clbdrain workflow upserts, so that
// Temporal's visibility answers "who drained what, when and why". The
// namespace must have them registered (AuditSearchAttributes lists them
// with their types); a workflow upserts only those registered.
var (
	// SearchAttrKind is the kind of workflow: one of the Kind* constants.
	SearchAttrKind = temporal.NewSearchAttributeKeyKeyword("ClbKind")
	// SearchAttrLoadBalancers are the load balancers it works on.
	SearchAttrLoadBalancers = temporal.NewSearchAttributeKeyKeywordList("ClbLoadBalancers")
	// SearchAttrListeners are its listeners ("lbl-x") and rules
	// ("lbl-x/loc-y", once the rule is known by its LocationId).
	SearchAttrListeners = temporal.NewSearchAttributeKeyKeywordList("ClbListeners")
	// SearchAttrServers are the servers it takes out: instance IDs and ENI
	// IPs, distinct, in input order, at most MaxAuditValueBytes of them.
	SearchAttrServers = temporal.NewSearchAttributeKeyKeywordList("ClbServers")
	// SearchAttrReason is the input's Reason (Text: searched by words),
	// with ':', ' and \ replaced by spaces (see textSafe).
	SearchAttrReason = temporal.NewSearchAttributeKeyString("ClbReason")
	// SearchAttrRequester is who asked for it.
	SearchAttrRequester = temporal.NewSearchAttributeKeyKeyword("ClbRequester")
	// SearchAttrPhase is where it is: a Phase, upserted as it moves.
	SearchAttrPhase = temporal.NewSearchAttributeKeyKeyword("ClbPhase")
)

// AuditSearchAttributes are the audit search attributes, in the order a
// namespace should register them.
func AuditSearchAttributes() []temporal.SearchAttributeKey {
	return []temporal.SearchAttributeKey{SearchAttrKind, SearchAttrLoadBalancers, SearchAttrListeners,
		SearchAttrServers, SearchAttrReason, SearchAttrRequester, SearchAttrPhase}
}

// Values of SearchAttrKind.
const (
	// KindDrain is DrainAndDeregister.
	KindDrain = "drain"
	// KindScheduled is ScheduledDrain, the wrapper a schedule starts; its
	// drain is a KindDrain child.
	KindScheduled = "scheduled"
)

// Phases of ScheduledDrain (it also ends in PhaseDone or PhaseFailed).
const (
	PhaseRunning Phase = "running"
	PhaseSkipped Phase = "skipped"
)

// Audit bounds.
const (
	// MaxRequesterLen bounds DrainInput.Requester, in characters: a SQL
	// visibility store keeps a Keyword in a VARCHAR(255) column.
	MaxRequesterLen = 255
	// MaxAuditValueBytes bounds each audit attribute's value as JSON:
	// Temporal refuses a search attribute value over 2 KB by default (and
	// the refusal stalls the workflow), so a drain of more servers records
	// the first ones only (about 100 instance IDs); lists, reason and
	// requester are cut to it.
	MaxAuditValueBytes = 1500
	// maxSummaryLen bounds the static summary (one line in the UI).
	maxSummaryLen = 200
	// maxDetailsServers is how many servers the static details list.
	maxDetailsServers = 20
)

// AuditAttributesActivity is the local activity a workflow runs once per
// run to learn which audit search attributes the namespace has. The worker
// registers it (cmd/worker); without it, or when it fails, the run upserts
// none. Upserting an attribute the namespace lacks would fail every
// workflow task of the run (BadSearchAttributes) and stall the drain.
const AuditAttributesActivity = "ClbAuditAttributes"

// AuditAttribute is a search attribute the workflow wants.
type AuditAttribute struct {
	Name string                   `json:"Name"`
	Type enumspb.IndexedValueType `json:"Type"`
}

// AuditAttributesInput is the input of AuditAttributesActivity.
type AuditAttributesInput struct {
	Attributes []AuditAttribute `json:"Attributes"`
}

// AuditAttributesResult names the attributes of the input that the
// namespace has, with the same type.
type AuditAttributesResult struct {
	Registered []string `json:"Registered"`
}

// auditChangeID versions the audit upserts: a run recorded before them
// replays without them.
const auditChangeID = "audit-search-attributes"

// auditRecord is what a workflow tells visibility about itself.
type auditRecord struct {
	kind          string
	loadBalancers []string
	listeners     []string
	servers       []string
	reason        string
	requester     string
	phase         Phase
}

// auditor upserts a run's audit search attributes as it moves and keeps
// its current details. Upserting never fails the workflow: a failure is
// logged and audit goes on without it.
type auditor struct {
	log log.Logger
	// registered names the attributes to upsert; empty when audit is off
	// (an old run replaying, or a namespace without them).
	registered map[string]bool
	phase      Phase
	listeners  []string
}

// startAudit turns audit on for this run, unless it replays a history
// recorded before audit or the namespace lacks the attributes, and upserts
// everything rec says. Pass the workflow function's own ctx, here and to
// the auditor's methods: a context from workflow.WithChildOptions holds a
// copy of the workflow's options, and current details set on it are lost.
func startAudit(ctx workflow.Context, rec auditRecord) *auditor {
	au := &auditor{log: workflow.GetLogger(ctx), phase: rec.phase, listeners: rec.listeners}
	workflow.SetCurrentDetails(ctx, "**"+string(rec.phase)+"**")
	if workflow.GetVersion(ctx, auditChangeID, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return au
	}
	au.registered = registeredAuditAttributes(ctx, au.log)
	rec.requester = auditRequester(ctx, rec.requester)
	au.upsert(ctx,
		keyword(SearchAttrKind, rec.kind),
		keywords(SearchAttrLoadBalancers, rec.loadBalancers),
		keywords(SearchAttrListeners, rec.listeners),
		keywords(SearchAttrServers, rec.servers),
		text(SearchAttrReason, rec.reason),
		keyword(SearchAttrRequester, rec.requester),
		keyword(SearchAttrPhase, string(rec.phase)))
	return au
}

// auditRequester is the requester to record: requester when given, else,
// for a child workflow, "workflow:" and its parent's workflow ID (from the
// workflow info, so replay sees the same), else none. It is cut to
// MaxRequesterLen characters, what SQL visibility keeps of a Keyword.
func auditRequester(ctx workflow.Context, requester string) string {
	if parent := workflow.GetInfo(ctx).ParentWorkflowExecution; requester == "" && parent != nil {
		requester = ParentRequesterPrefix + parent.ID
	}
	if utf8.RuneCountInString(requester) > MaxRequesterLen {
		requester = string([]rune(requester)[:MaxRequesterLen])
	}
	return requester
}

// ParentRequesterPrefix starts the ClbRequester of a child drain started
// without a Requester; the parent's workflow ID follows.
const ParentRequesterPrefix = "workflow:"

// registeredAuditAttributes runs AuditAttributesActivity; on failure audit
// is off for the run.
func registeredAuditAttributes(ctx workflow.Context, logger log.Logger) map[string]bool {
	in := AuditAttributesInput{}
	for _, k := range AuditSearchAttributes() {
		in.Attributes = append(in.Attributes, AuditAttribute{Name: k.GetName(), Type: k.GetValueType()})
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second,
		StartToCloseTimeout:    10 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var res AuditAttributesResult
	if err := workflow.ExecuteLocalActivity(lctx, AuditAttributesActivity, in).Get(ctx, &res); err != nil {
		logger.Warn("audit search attributes off for this run: cannot tell which the namespace has", "error", err)
		return nil
	}
	registered := map[string]bool{}
	for _, name := range res.Registered {
		registered[name] = true
	}
	return registered
}

// auditUpdate is one attribute's new value; skip leaves it as it is.
type auditUpdate struct {
	name   string
	update temporal.SearchAttributeUpdate
	skip   bool
}

func keyword(k temporal.SearchAttributeKeyKeyword, v string) auditUpdate {
	return auditUpdate{name: k.GetName(), update: k.ValueSet(v), skip: v == ""}
}

// keywords sets a list, cut to MaxAuditValueBytes of JSON.
func keywords(k temporal.SearchAttributeKeyKeywordList, v []string) auditUpdate {
	v = fitList(v, MaxAuditValueBytes)
	return auditUpdate{name: k.GetName(), update: k.ValueSet(v), skip: len(v) == 0}
}

// text sets a Text attribute, its value made safe by textSafe.
func text(k temporal.SearchAttributeKeyString, v string) auditUpdate {
	v = textSafe(v)
	return auditUpdate{name: k.GetName(), update: k.ValueSet(v), skip: strings.TrimSpace(v) == ""}
}

// tsvectorSyntax are the characters that a Text value must not hold.
// Temporal's PostgreSQL visibility store writes a Text attribute as a
// tsvector literal, where ':' starts a position, and ' and \ quote
// and escape; a value holding one of them fails that write, and the
// workflow silently goes missing from visibility (and from
// `starter list`): temporalio/temporal#11085.
const tsvectorSyntax = ":'\\"

// textSafe is v with each character of tsvectorSyntax replaced by a space,
// so that every visibility store takes it. Words stay searchable: "CHG-42:
// reboot" becomes "CHG-42  reboot".
func textSafe(v string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(tsvectorSyntax, r) {
			return ' '
		}
		return r
	}, v)
}

// upsert sends the updates of registered attributes, in one command.
func (au *auditor) upsert(ctx workflow.Context, updates ...auditUpdate) {
	var send []temporal.SearchAttributeUpdate
	for _, u := range updates {
		if !u.skip && au.registered[u.name] {
			send = append(send, u.update)
		}
	}
	if len(send) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, send...); err != nil {
		au.log.Warn("upserting audit search attributes failed", "error", err)
	}
}

// setPhase upserts the phase when it changed, and makes it the current
// details (a workflow with more to say sets them after).
func (au *auditor) setPhase(ctx workflow.Context, phase Phase) {
	if phase == au.phase {
		return
	}
	au.phase = phase
	au.upsert(ctx, keyword(SearchAttrPhase, string(phase)))
	workflow.SetCurrentDetails(ctx, "**"+string(phase)+"**")
}

// addListener upserts the listeners with one more, when it is new.
func (au *auditor) addListener(ctx workflow.Context, listener string) {
	if listener == "" || slices.Contains(au.listeners, listener) {
		return
	}
	au.listeners = append(slices.Clip(au.listeners), listener)
	au.upsert(ctx, keywords(SearchAttrListeners, au.listeners))
}

// drainAudit is what DrainAndDeregister tells visibility at its start.
func drainAudit(in DrainInput) auditRecord {
	return auditRecord{
		kind:          KindDrain,
		loadBalancers: []string{in.LoadBalancerId},
		listeners:     auditListeners(in.ListenerId, in.LocationId),
		servers:       auditServers(in.Targets),
		reason:        fitJSON(in.Reason, MaxAuditValueBytes),
		requester:     fitJSON(in.Requester, MaxAuditValueBytes),
		phase:         PhaseValidating,
	}
}

// scheduledAudit is what ScheduledDrain tells visibility at its start.
func scheduledAudit(in DrainInput) auditRecord {
	rec := drainAudit(in)
	rec.kind, rec.phase = KindScheduled, PhaseRunning
	return rec
}

// scheduledOutcome is the last phase of a ScheduledDrain whose drain ended
// with res and err.
func scheduledOutcome(res DrainResult, err error) Phase {
	switch {
	case err != nil:
		return PhaseFailed
	case res.Cancelled:
		return PhaseCancelled
	}
	return PhaseDone
}

// auditListeners are the ClbListeners values of a listener and its rule.
func auditListeners(listenerID, locationID string) []string {
	out := []string{listenerID}
	if locationID != "" {
		out = append(out, listenerID+"/"+locationID)
	}
	return out
}

// auditServers are the distinct hosts of targets (instance ID or ENI IP),
// in order, as many as fit in MaxAuditValueBytes of JSON.
func auditServers(targets []clb.Target) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range targets {
		host := t.InstanceId
		if host == "" {
			host = t.EniIp
		}
		if host != "" && !seen[host] {
			seen[host] = true
			out = append(out, host)
		}
	}
	return fitList(out, MaxAuditValueBytes)
}

// noteAudit brings the drain's audit up to date: its phase, its rule once
// resolved, and its current details (shown in the Temporal UI).
func (d *drain) noteAudit(ctx workflow.Context) {
	if d.audit == nil {
		return
	}
	d.audit.setPhase(ctx, d.progress.Phase)
	if d.sel.LocationId != "" {
		d.audit.addListener(ctx, d.sel.ListenerId+"/"+d.sel.LocationId)
	}
	p, _ := d.queryProgress()
	details := fmt.Sprintf("**%s** · run %d", p.Phase, p.Run)
	if p.TargetsTotal > 0 {
		details += fmt.Sprintf(" · %d of %d targets deregistered in %d of %d chunks",
			p.TargetsDone, p.TargetsTotal, p.ChunksDone, p.ChunksTotal)
	}
	if p.AlreadyAbsent > 0 {
		details += fmt.Sprintf(" · %d already absent", p.AlreadyAbsent)
	}
	if !p.DrainUntil.IsZero() {
		details += " · drain delay until " + p.DrainUntil.UTC().Format(time.RFC3339)
	}
	if len(d.result.Restored) > 0 {
		details += fmt.Sprintf(" · %d weights restored", len(d.result.Restored))
	}
	if p.LastError != "" {
		details += " · last error: " + p.LastError
	}
	workflow.SetCurrentDetails(ctx, details)
}

// validateRequester checks DrainInput.Requester: UTF-8 text of at most
// MaxRequesterLen characters (what a VARCHAR(255) column of SQL
// visibility takes).
func validateRequester(requester string) []clb.Problem {
	switch {
	case !utf8.ValidString(requester):
		return []clb.Problem{{Field: "Requester", Value: requester, Reason: "must be UTF-8 text"}}
	case utf8.RuneCountInString(requester) > MaxRequesterLen:
		return []clb.Problem{{Field: "Requester", Value: strconv.Itoa(utf8.RuneCountInString(requester)) + " characters",
			Reason: "must be at most " + strconv.Itoa(MaxRequesterLen) + " characters: SQL visibility keeps a Keyword in a VARCHAR(255)"}}
	}
	return nil
}

// Summary is the one-line static summary of a drain for the Temporal UI:
// what, how many targets, who and why.
func Summary(in DrainInput) string {
	s := fmt.Sprintf("drain %d targets from %s", len(in.Targets), in.Selector)
	if in.Requester != "" {
		s += " by " + in.Requester
	}
	if in.Reason != "" {
		s += ": " + strings.Join(strings.Fields(in.Reason), " ")
	}
	return truncate(s, maxSummaryLen)
}

// Details are the static details of a drain for the Temporal UI, in
// Markdown: the selector, the targets' hosts (the first ones), the drain
// delay, the requester and the reason.
func Details(in DrainInput) string {
	lines := []string{"**Load balancer:** " + in.LoadBalancerId, "**Listener:** " + in.ListenerId}
	switch {
	case in.LocationId != "":
		lines = append(lines, "**Rule:** "+in.LocationId)
	case in.Domain != "" || in.Url != "":
		lines = append(lines, "**Rule:** "+in.Domain+in.Url)
	}
	hosts := auditServers(in.Targets)
	servers := strings.Join(hosts[:min(len(hosts), maxDetailsServers)], ", ")
	if len(hosts) > maxDetailsServers {
		servers += ", …"
	}
	lines = append(lines, "**Targets:** "+strconv.Itoa(len(in.Targets)), "**Servers:** "+servers)
	if in.DrainDelay > 0 {
		lines = append(lines, "**Drain delay:** "+in.DrainDelay.String())
	}
	if in.Requester != "" {
		lines = append(lines, "**Requester:** "+in.Requester)
	}
	if in.Reason != "" {
		lines = append(lines, "**Reason:** "+in.Reason)
	}
	// Two trailing spaces make a Markdown line break.
	return strings.Join(lines, "  \n") + "\n"
}

// fitJSON cuts s, on a rune boundary, so that it takes at most limit bytes
// as a JSON string (as encoding/json writes it: quotes, escapes, HTML
// characters as \u003c).
func fitJSON(s string, limit int) string {
	size := 2
	for i, r := range s {
		n := jsonRuneLen(r)
		if size+n > limit {
			return s[:i]
		}
		size += n
	}
	return s
}

// jsonRuneLen is how many bytes encoding/json writes for r in a string.
func jsonRuneLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	}
	return utf8.RuneLen(r)
}

// fitList is the first values that take at most limit bytes as a JSON
// array of strings.
func fitList(values []string, limit int) []string {
	size := 2
	for i, v := range values {
		n := 2 + 1 // quotes and a comma
		for _, r := range v {
			n += jsonRuneLen(r)
		}
		if size+n > limit {
			return values[:i]
		}
		size += n
	}
	return values
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
