// Package anchor parses the anchors that Kyverno patterns and strategic merge
// patches put around map keys: "(key)", "=(key)", "^(key)", "X(key)",
// "+(key)" and "<(key)".
package anchor

import "strings"

// Type is the kind of an anchor.
type Type string

// The anchor types, named by their prefix.
const (
	// None is a plain key.
	None Type = ""
	// Condition "(key)": the rest of the map applies only when the value at
	// key matches.
	Condition Type = "()"
	// Equality "=(key)": if key is present, its value must match.
	Equality Type = "=()"
	// Existence "^(key)": the list at key must hold at least one element that
	// matches.
	Existence Type = "^()"
	// Negation "X(key)": key must not be present.
	Negation Type = "X()"
	// AddIfNotPresent "+(key)": a mutation adds key only when it is absent.
	AddIfNotPresent Type = "+()"
	// Global "<(key)": when the value at key does not match, the whole rule
	// does not apply.
	Global Type = "<()"
)

// Anchor is a parsed map key.
type Anchor struct {
	Type Type
	// Key is the key without its anchor.
	Key string
}

// Parse splits a map key into its anchor and the bare key. A key that is not
// anchored, or whose anchor is malformed (for example "()" with nothing
// inside), parses as None with the key unchanged.
func Parse(s string) Anchor {
	if len(s) < 3 || s[len(s)-1] != ')' {
		return Anchor{Key: s}
	}
	prefixes := []struct {
		prefix string
		typ    Type
	}{
		{"(", Condition},
		{"=(", Equality},
		{"^(", Existence},
		{"X(", Negation},
		{"+(", AddIfNotPresent},
		{"<(", Global},
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p.prefix) {
			key := s[len(p.prefix) : len(s)-1]
			if key == "" {
				return Anchor{Key: s}
			}
			return Anchor{Type: p.typ, Key: key}
		}
	}
	return Anchor{Key: s}
}

// String renders the anchor back into a map key.
func (a Anchor) String() string {
	switch a.Type {
	case None:
		return a.Key
	case Condition:
		return "(" + a.Key + ")"
	default:
		return string(a.Type[:len(a.Type)-2]) + "(" + a.Key + ")"
	}
}

// IsConditional reports whether the anchor is a condition or a global
// condition: both make the surrounding map apply only when they match.
func (a Anchor) IsConditional() bool { return a.Type == Condition || a.Type == Global }
