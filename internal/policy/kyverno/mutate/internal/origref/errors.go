package origref

import "fmt"

// NoPatchesApplied is the message Kyverno gives a mutate rule, or one
// element of a foreach mutation, whose patch leaves the resource unchanged;
// the rule is then reported as skipped.
const NoPatchesApplied = "no patches applied"

// SkipError is returned by StrategicMerge and JSON6902 when the patch leaves
// the resource unchanged. Kyverno reports the rule (or the foreach element)
// as skipped with Message. The function returns a nil resource with it:
// callers must keep the resource they passed in, exactly as Kyverno keeps
// its unpatched copy.
type SkipError struct {
	// Message is Kyverno's rule message, NoPatchesApplied.
	Message string
	// Cause says why nothing changed when that is known: a *ConditionError
	// when a conditional or global anchor of the overlay did not match, so
	// that the overlay was dropped. It is nil when the patch simply had no
	// effect.
	Cause error
}

// Error returns the message, with the cause when there is one.
func (e *SkipError) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *SkipError) Unwrap() error { return e.Cause }

// ConditionError reports that a conditional anchor "(key)" or a global
// anchor "<(key)" of a strategic merge overlay did not match the resource.
// Kyverno then applies an empty patch instead of the overlay. It reaches
// callers only as the Cause of a *SkipError.
type ConditionError struct {
	// Global is set for a global anchor "<(key)".
	Global bool
	// Err says which condition failed.
	Err error
}

// Error returns Kyverno's text: "condition failed: ..." or "global condition
// failed: ...".
func (e *ConditionError) Error() string {
	if e.Global {
		return fmt.Sprintf("global condition failed: %v", e.Err)
	}
	return fmt.Sprintf("condition failed: %v", e.Err)
}

// Unwrap returns the failed condition.
func (e *ConditionError) Unwrap() error { return e.Err }
