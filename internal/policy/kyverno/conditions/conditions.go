// Package conditions implements Kyverno's conditions: rule preconditions,
// validate.deny.conditions and the conditions of foreach blocks. A block is
// either {any: [...], all: [...]} (both optional; when both are present both
// must hold) or, in the legacy form, a plain list of conditions that must all
// hold. Each condition compares a key with a value using an Operator.
//
// Keys and values hold "{{ }}" variables that the caller substitutes per
// request: Compile validates a block once, and Block.Evaluate takes a
// substitution function that it applies lazily, condition by condition, as
// Kyverno does (an "any" block stops at the first condition that holds, so a
// variable in a later condition is never resolved).
package conditions

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Condition is one compiled condition.
type Condition struct {
	// Key and Value are the raw key and value, with variables unsubstituted.
	Key   any
	Value any
	// Operator is valid (see Operator.Valid).
	Operator Operator
	// Message is the condition's optional message, reported when it decides
	// the block.
	Message string
}

// Block is a compiled conditions block. A nil *Block holds.
type Block struct {
	// legacy is set for the list form, whose conditions are in all.
	legacy bool
	// hasAny is set when the block has an "any" list, even an empty one:
	// Kyverno then needs one of its conditions to hold.
	hasAny bool
	any    []Condition
	all    []Condition
}

// Compile validates a conditions block (the raw unstructured value of
// preconditions, deny.conditions or a foreach's preconditions) and returns it
// in evaluable form. fldPath names where it sits in the policy. A nil raw
// value compiles to a nil *Block, which holds.
//
// Like Kyverno's policy validation, Compile rejects: a map with keys other
// than "any" and "all"; "any" or "all" that are not lists; conditions that
// are not maps; a missing or null key or value; an operator that is not one
// of Operators() (spelling and case must match); and, for the key
// "{{request.operation}}", values other than CREATE, UPDATE, DELETE and
// CONNECT.
func Compile(raw any, fldPath *field.Path) (*Block, field.ErrorList) {
	switch t := raw.(type) {
	case nil:
		return nil, nil
	case []any:
		b := &Block{legacy: true}
		var errs field.ErrorList
		b.all, errs = compileList(t, fldPath)
		if len(errs) > 0 {
			return nil, errs
		}
		return b, nil
	case map[string]any:
		b := &Block{}
		var errs field.ErrorList
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := t[k]
			switch k {
			case "any", "all":
				if v == nil {
					continue
				}
				list, ok := v.([]any)
				if !ok {
					errs = append(errs, field.Invalid(fldPath.Child(k), v, "must be a list of conditions"))
					continue
				}
				conds, cerrs := compileList(list, fldPath.Child(k))
				errs = append(errs, cerrs...)
				if k == "any" {
					b.hasAny, b.any = true, conds
				} else {
					b.all = conds
				}
			default:
				errs = append(errs, field.NotSupported(fldPath, k, []string{"all", "any"}))
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return b, nil
	}
	return nil, field.ErrorList{field.Invalid(fldPath, raw, "must be a list of conditions or a map with any and all")}
}

func compileList(list []any, fldPath *field.Path) ([]Condition, field.ErrorList) {
	conds := make([]Condition, 0, len(list))
	var errs field.ErrorList
	for i, e := range list {
		c, cerrs := compileCondition(e, fldPath.Index(i))
		errs = append(errs, cerrs...)
		conds = append(conds, c)
	}
	return conds, errs
}

func compileCondition(raw any, fldPath *field.Path) (Condition, field.ErrorList) {
	m, ok := raw.(map[string]any)
	if !ok {
		return Condition{}, field.ErrorList{field.Invalid(fldPath, raw, "must be a condition with key, operator and value")}
	}
	var errs field.ErrorList
	c := Condition{Key: m["key"], Value: m["value"]}
	if c.Key == nil {
		errs = append(errs, field.Required(fldPath.Child("key"), "entered value of `key`, `value` or `operator` is missing or misspelled"))
	}
	if c.Value == nil {
		errs = append(errs, field.Required(fldPath.Child("value"), "entered value of `key`, `value` or `operator` is missing or misspelled"))
	}
	switch op := m["operator"].(type) {
	case nil:
		errs = append(errs, field.Required(fldPath.Child("operator"), "entered value of `key`, `value` or `operator` is missing or misspelled"))
	case string:
		c.Operator = Operator(op)
		if op == "" {
			errs = append(errs, field.Required(fldPath.Child("operator"), "entered value of `key`, `value` or `operator` is missing or misspelled"))
		} else if !c.Operator.Valid() {
			errs = append(errs, field.NotSupported(fldPath.Child("operator"), op, Operators()))
		}
	default:
		errs = append(errs, field.Invalid(fldPath.Child("operator"), op, "must be a string"))
	}
	switch msg := m["message"].(type) {
	case nil:
	case string:
		c.Message = msg
	default:
		errs = append(errs, field.Invalid(fldPath.Child("message"), msg, "must be a string"))
	}
	errs = append(errs, validateOperationValues(c, fldPath)...)
	return c, errs
}

// validateOperationValues checks, as Kyverno does, that a condition on
// {{request.operation}} only compares it with admission operations.
func validateOperationValues(c Condition, fldPath *field.Path) field.ErrorList {
	k, ok := c.Key.(string)
	if !ok || strings.ReplaceAll(k, " ", "") != "{{request.operation}}" {
		return nil
	}
	allowed := func(s string) bool {
		switch s {
		case "CREATE", "UPDATE", "DELETE", "CONNECT":
			return true
		}
		return false
	}
	const detail = "only CREATE, UPDATE, DELETE and CONNECT are allowed"
	switch v := c.Value.(type) {
	case nil:
		return nil
	case string:
		if len(v) >= 4 && strings.HasPrefix(v, "{{") && strings.HasSuffix(v, "}}") {
			return nil
		}
		if !allowed(v) {
			return field.ErrorList{field.Invalid(fldPath.Child("value"), v, detail)}
		}
	case []any:
		var errs field.ErrorList
		for i, e := range v {
			s, ok := e.(string)
			if !ok || !allowed(s) {
				errs = append(errs, field.Invalid(fldPath.Child("value").Index(i), e, detail))
			}
		}
		return errs
	default:
		return field.ErrorList{field.Invalid(fldPath.Child("value"), v, "must be a string or a list of strings")}
	}
	return nil
}

// Substituter resolves the "{{ }}" variables of a condition's key or value.
// Kyverno resolves a variable it cannot find to "" in conditions rather
// than failing; a Substituter should do the same, and return an error only
// for what Kyverno reports as one.
type Substituter func(any) (any, error)

// Evaluate decides the block. subst resolves each key and value just before
// its condition is evaluated; nil means no substitution. It returns whether
// the block holds and Kyverno's message for the result: the messages of the
// conditions that decided it, joined with "; " (with ";" for the legacy
// form's passing message). An error from subst stops the evaluation.
//
// For preconditions, false means the rule is skipped ("preconditions not
// met; " + message); for deny conditions, true means the rule fails with the
// rule's message and this one joined by "; ".
func (b *Block) Evaluate(subst Substituter) (bool, string, error) {
	if b == nil {
		return true, "", nil
	}
	if b.legacy {
		var passed []string
		for i := range b.all {
			ok, msg, err := b.all[i].evaluate(subst)
			if err != nil {
				return false, "", err
			}
			if !ok {
				return false, msg, nil
			}
			passed = append(passed, msg)
		}
		return true, joinNonEmpty(passed, ";"), nil
	}
	anyHolds, allHold := true, true
	var passed, failed []string
	if b.hasAny {
		anyHolds = false
		for i := range b.any {
			ok, msg, err := b.any[i].evaluate(subst)
			if err != nil {
				return false, "", err
			}
			if ok {
				anyHolds = true
				passed = append(passed, msg)
				break
			}
			failed = append(failed, msg)
		}
	}
	for i := range b.all {
		ok, msg, err := b.all[i].evaluate(subst)
		if err != nil {
			return false, "", err
		}
		if !ok {
			allHold = false
			failed = append(failed, msg)
			break
		}
		passed = append(passed, msg)
	}
	if anyHolds && allHold {
		return true, joinNonEmpty(passed, "; "), nil
	}
	return false, joinNonEmpty(failed, "; "), nil
}

// evaluate substitutes the condition's key, then its value, and applies the
// operator.
func (c *Condition) evaluate(subst Substituter) (bool, string, error) {
	key, value := c.Key, c.Value
	if subst != nil {
		var err error
		if key, err = subst(key); err != nil {
			return false, "", fmt.Errorf("failed to substitute variables in condition key: %w", err)
		}
		if value, err = subst(value); err != nil {
			return false, "", fmt.Errorf("failed to substitute variables in condition value: %w", err)
		}
	}
	return c.Operator.Eval(key, value), c.Message, nil
}

func joinNonEmpty(parts []string, sep string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}
