package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"golang.org/x/sync/singleflight"

	"github.com/clbdrain/clbdrain/workflows"
)

// auditCheck tells which of the audit search attributes the namespace has.
// The workflows ask it once per run (workflows.AuditAttributesActivity) and
// upsert only those: an attribute the namespace lacks would stall them.
type auditCheck struct {
	namespace string
	// list returns the namespace's custom search attributes by name.
	list listFunc
}

// newAuditCheck checks the namespace through Temporal's OperatorService,
// concurrent checks sharing one call (sharedList).
func newAuditCheck(ops operatorservice.OperatorServiceClient, namespace string) auditCheck {
	return auditCheck{namespace: namespace, list: sharedList(func(ctx context.Context) (map[string]enumspb.IndexedValueType, error) {
		res, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		return res.GetCustomAttributes(), err
	})}
}

// listFunc returns a namespace's custom search attributes by name.
type listFunc func(ctx context.Context) (map[string]enumspb.IndexedValueType, error)

// sharedList makes the concurrent calls of list share one call in flight,
// so that drains started together ask the namespace once, not once each; a
// call that starts after it ended asks again, so nothing is older than
// with a call each. A caller whose ctx ends stops waiting; the call goes
// on for the others, for auditCheckTimeout at most. Callers must not change
// the map they get.
func sharedList(list listFunc) listFunc {
	return sharedListWith(list, nil)
}

// sharedListWith is sharedList, calling joined (when not nil) once each
// caller waits on the call in flight.
func sharedListWith(list listFunc, joined func()) listFunc {
	var g singleflight.Group
	return func(ctx context.Context) (map[string]enumspb.IndexedValueType, error) {
		ch := g.DoChan("list", func() (any, error) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditCheckTimeout)
			defer cancel()
			return list(cctx)
		})
		if joined != nil {
			joined()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			if r.Err != nil {
				return nil, r.Err
			}
			return r.Val.(map[string]enumspb.IndexedValueType), nil
		}
	}
}

// auditCheckTimeout bounds the check at the worker's start.
const auditCheckTimeout = 10 * time.Second

// auditFinding is what the check found of the attributes wanted.
type auditFinding struct {
	registered []string
	missing    []workflows.AuditAttribute
	// wrongType describes attributes registered with another type.
	wrongType []string
}

// check lists the namespace's custom search attributes and compares them
// with want.
func (c auditCheck) check(ctx context.Context, want []workflows.AuditAttribute) (auditFinding, error) {
	custom, err := c.list(ctx)
	if err != nil {
		return auditFinding{}, fmt.Errorf("listing the search attributes of namespace %s: %w", c.namespace, err)
	}
	var f auditFinding
	for _, a := range want {
		typ, ok := custom[a.Name]
		switch {
		case !ok:
			f.missing = append(f.missing, a)
		case typ != a.Type:
			f.wrongType = append(f.wrongType, fmt.Sprintf("%s is registered as %s, clbdrain wants %s", a.Name, typ, a.Type))
		default:
			f.registered = append(f.registered, a.Name)
		}
	}
	return f, nil
}

// attributes is workflows.AuditAttributesActivity, a local activity.
func (c auditCheck) attributes(ctx context.Context, in workflows.AuditAttributesInput) (workflows.AuditAttributesResult, error) {
	f, err := c.check(ctx, in.Attributes)
	if err != nil {
		return workflows.AuditAttributesResult{}, err
	}
	return workflows.AuditAttributesResult{Registered: f.registered}, nil
}

// report checks the attributes at the worker's start and logs what to do
// about those missing. The worker works either way: drains upsert only the
// attributes the namespace has.
func (c auditCheck) report(ctx context.Context, log *slog.Logger) {
	var want []workflows.AuditAttribute
	for _, k := range workflows.AuditSearchAttributes() {
		want = append(want, workflows.AuditAttribute{Name: k.GetName(), Type: k.GetValueType()})
	}
	ctx, cancel := context.WithTimeout(ctx, auditCheckTimeout)
	defer cancel()
	f, err := c.check(ctx, want)
	if err != nil {
		log.Warn("cannot check the audit search attributes; each drain checks again", "error", err)
		return
	}
	for _, w := range f.wrongType {
		log.Warn("audit search attribute of the wrong type: drains do not set it", "problem", w)
	}
	if len(f.missing) == 0 {
		log.Info("audit search attributes registered", "namespace", c.namespace, "registered", len(f.registered))
		return
	}
	var names []string
	for _, a := range f.missing {
		names = append(names, a.Name)
	}
	log.Warn("audit search attributes missing: drains run, but do not record them until they are registered",
		"namespace", c.namespace, "missing", strings.Join(names, ","))
	for _, cmd := range createCommands(c.namespace, f.missing) {
		log.Warn("register them with", "command", cmd)
	}
}

// createCommands are the temporal CLI commands that register missing: one
// per type, each --name followed by its --type. The CLI pairs the flags:
// "--name A --name B --type Keyword" registers one of the two only.
func createCommands(namespace string, missing []workflows.AuditAttribute) []string {
	var types []enumspb.IndexedValueType
	names := map[enumspb.IndexedValueType][]string{}
	for _, a := range missing {
		if _, ok := names[a.Type]; !ok {
			types = append(types, a.Type)
		}
		names[a.Type] = append(names[a.Type], fmt.Sprintf("--name %s --type %s", a.Name, a.Type))
	}
	var out []string
	for _, t := range types {
		out = append(out, fmt.Sprintf("temporal operator search-attribute create --namespace %s %s",
			namespace, strings.Join(names[t], " ")))
	}
	return out
}
