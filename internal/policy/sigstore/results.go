package sigstore

import (
	"sort"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/engine"
)

// grouper turns per-container outcomes into rule results the way
// policy-controller's errors read, as the seed walkthroughs print them: an
// entry's message is its details ("IMAGE@DIGEST REASONS" for a failing
// policy) when it has some, else "MESSAGE: PATHS". Entries with the same
// message and details (the same image failing the same way in several
// containers) share one result whose Rule is their paths joined by ", " in
// sorted order.
type grouper struct {
	ref  engine.PolicyRef
	warn bool
	// detailsOnly renders failures with details as the details alone (the
	// ClusterImagePolicies' failures).
	detailsOnly bool
	groups      map[groupKey]*group
	order       []groupKey
}

type groupKey struct {
	verdict engine.Verdict
	message string
	details string
}

type group struct {
	key        groupKey
	paths      []string
	image      string
	properties map[string]string
}

func newGrouper(ref engine.PolicyRef) *grouper {
	return &grouper{ref: ref, groups: map[groupKey]*group{}}
}

// addEntry records one container's entry.
func (g *grouper) addEntry(verdict engine.Verdict, message, details, path, img string, props map[string]string) {
	k := groupKey{verdict: verdict, message: message, details: details}
	gr, ok := g.groups[k]
	if !ok {
		gr = &group{key: k, image: img, properties: props}
		g.groups[k] = gr
		g.order = append(g.order, k)
	}
	for _, p := range gr.paths {
		if p == path {
			return
		}
	}
	gr.paths = append(gr.paths, path)
}

// add records what a ClusterImagePolicy said about one container.
func (g *grouper) add(c *container, out imageOutcome) {
	props := map[string]string{"image": c.display}
	if out.verdict == engine.Pass {
		props["authorities"] = strings.Join(out.passedBy, ",")
		g.addEntry(engine.Pass, c.display+" passed policy "+g.ref.Name, "", c.path, c.display, props)
		return
	}
	details := c.display
	for _, r := range out.reasons {
		details += " " + r
	}
	g.addEntry(out.verdict, "failed policy: "+g.ref.Name, details, c.path, c.display, props)
}

// results returns one rule result per group, sorted by message and details
// as policy-controller sorts its errors. Failures use the policy's mode.
func (g *grouper) results() []engine.RuleResult {
	if len(g.groups) == 0 {
		return nil
	}
	keys := append([]groupKey(nil), g.order...)
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.message != b.message {
			return a.message < b.message
		}
		if a.details != b.details {
			return a.details < b.details
		}
		return a.verdict < b.verdict
	})
	out := make([]engine.RuleResult, 0, len(keys))
	for _, k := range keys {
		gr := g.groups[k]
		sort.Strings(gr.paths)
		paths := strings.Join(gr.paths, ", ")
		r := engine.RuleResult{
			Policy:     g.ref,
			Rule:       paths,
			Type:       engine.ImageVerify,
			Verdict:    k.verdict,
			Properties: gr.properties,
		}
		switch k.verdict {
		case engine.Pass:
			r.Message = k.message
		default:
			// kubectl shows what the seeds print: for a failing
			// ClusterImagePolicy, the details line of policy-controller's
			// field error ("IMAGE@DIGEST REASONS"), with the policy and
			// the paths kept in the result's Policy and Rule; for the
			// controller's own errors, "MESSAGE: PATHS" and the details.
			r.Message = k.message + ": " + paths
			switch {
			case k.details != "" && g.detailsOnly:
				r.Message = k.details
			case k.details != "":
				r.Message += "\n" + k.details
			}
			r.Action = engine.ActionDeny
			if g.warn {
				r.Action = engine.ActionWarn
			}
		}
		out = append(out, r)
	}
	return out
}
