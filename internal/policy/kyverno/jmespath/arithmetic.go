package jmespath

import (
	"fmt"
	"time"

	"gopkg.in/inf.v0"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Kyverno's arithmetic (pkg/engine/jmespath/arithmetic.go) works on three
// kinds of operands: numbers ("scalars"), strings that parse as Kubernetes
// quantities ("100Mi", "2", "500m") and strings that parse as Go durations
// ("1h30s"). A string is a quantity first, so "5m" is 5 milli, not 5 minutes.
//
// Addition and subtraction: quantity with quantity gives a quantity string,
// duration with duration a duration string, scalar with scalar a number; any
// mix is a "Types mismatch".
//
// Multiplication: quantity times scalar gives a quantity, duration times
// scalar a duration, scalar times scalar a number (in either order); anything
// else mismatches.
//
// Division: quantity by quantity gives a number, quantity by scalar a
// quantity, duration by duration a number, duration by scalar a duration,
// scalar by scalar a number; zero divisors are errors.
//
// Modulo: quantity by quantity gives a quantity, duration by duration a
// duration, scalar by scalar a number; the operands must be integers.
type operand interface {
	add(other operand, operator string) (any, error)
	subtract(other operand) (any, error)
	multiply(other operand) (any, error)
	divide(other operand) (any, error)
	modulo(other operand) (any, error)
}

type quantity struct{ resource.Quantity }

type duration struct{ time.Duration }

type scalar struct{ float64 }

func parseOperand(v any, operator string) (operand, error) {
	if f, ok := toNumber(v); ok {
		return scalar{f}, nil
	}
	if s, ok := v.(string); ok {
		if q, err := resource.ParseQuantity(s); err == nil {
			return quantity{q}, nil
		}
		if d, err := time.ParseDuration(s); err == nil {
			return duration{d}, nil
		}
	}
	return nil, formatError(genericError, operator, "invalid operand")
}

func parseOperands(x []any, operator string) (operand, operand, error) {
	left, err := parseOperand(x[0], operator)
	if err != nil {
		return nil, nil, err
	}
	right, err := parseOperand(x[1], operator)
	if err != nil {
		return nil, nil, err
	}
	return left, right, nil
}

func arithmeticAdd(a, b any, operator string) (any, error) {
	left, right, err := parseOperands([]any{a, b}, operator)
	if err != nil {
		return nil, err
	}
	return left.add(right, operator)
}

func arithmetic(x []any, operator string, op func(operand, operand) (any, error)) (any, error) {
	left, right, err := parseOperands(x, operator)
	if err != nil {
		return nil, err
	}
	return op(left, right)
}

func (q quantity) add(o operand, operator string) (any, error) {
	if v, ok := o.(quantity); ok {
		q.Quantity.Add(v.Quantity)
		return q.String(), nil
	}
	return nil, formatError(typeMismatchError, operator)
}

func (d duration) add(o operand, operator string) (any, error) {
	if v, ok := o.(duration); ok {
		return (d.Duration + v.Duration).String(), nil
	}
	return nil, formatError(typeMismatchError, operator)
}

func (s scalar) add(o operand, operator string) (any, error) {
	if v, ok := o.(scalar); ok {
		return s.float64 + v.float64, nil
	}
	return nil, formatError(typeMismatchError, operator)
}

func (q quantity) subtract(o operand) (any, error) {
	if v, ok := o.(quantity); ok {
		q.Quantity.Sub(v.Quantity)
		return q.String(), nil
	}
	return nil, formatError(typeMismatchError, "subtract")
}

func (d duration) subtract(o operand) (any, error) {
	if v, ok := o.(duration); ok {
		return (d.Duration - v.Duration).String(), nil
	}
	return nil, formatError(typeMismatchError, "subtract")
}

func (s scalar) subtract(o operand) (any, error) {
	if v, ok := o.(scalar); ok {
		return s.float64 - v.float64, nil
	}
	return nil, formatError(typeMismatchError, "subtract")
}

// scalarQuantity converts a number to a quantity the way Kyverno does, by
// formatting it with %v.
func scalarQuantity(f float64) (resource.Quantity, error) {
	return resource.ParseQuantity(fmt.Sprintf("%v", f))
}

func (q quantity) multiply(o operand) (any, error) {
	if v, ok := o.(scalar); ok {
		factor, err := scalarQuantity(v.float64)
		if err != nil {
			return nil, err
		}
		var prod inf.Dec
		prod.Mul(q.AsDec(), factor.AsDec())
		return resource.NewDecimalQuantity(prod, q.Format).String(), nil
	}
	return nil, formatError(typeMismatchError, "multiply")
}

func (d duration) multiply(o operand) (any, error) {
	if v, ok := o.(scalar); ok {
		seconds := d.Seconds() * v.float64
		return time.Duration(seconds * float64(time.Second)).String(), nil
	}
	return nil, formatError(typeMismatchError, "multiply")
}

func (s scalar) multiply(o operand) (any, error) {
	switch v := o.(type) {
	case scalar:
		return s.float64 * v.float64, nil
	case quantity:
		return v.multiply(s)
	case duration:
		return v.multiply(s)
	}
	return nil, formatError(typeMismatchError, "multiply")
}

func (q quantity) divide(o operand) (any, error) {
	switch v := o.(type) {
	case quantity:
		divisor := v.AsApproximateFloat64()
		if divisor == 0 {
			return nil, formatError(zeroDivisionError, "divide")
		}
		return q.AsApproximateFloat64() / divisor, nil
	case scalar:
		if v.float64 == 0 {
			return nil, formatError(zeroDivisionError, "divide")
		}
		divisor, err := scalarQuantity(v.float64)
		if err != nil {
			return nil, err
		}
		dividend, div := q.AsDec(), divisor.AsDec()
		scale := dividend.Scale()
		if s := div.Scale(); s > scale {
			scale = s
		}
		var quo inf.Dec
		quo.QuoRound(dividend, div, scale, inf.RoundDown)
		return resource.NewDecimalQuantity(quo, q.Format).String(), nil
	}
	return nil, formatError(typeMismatchError, "divide")
}

func (d duration) divide(o operand) (any, error) {
	switch v := o.(type) {
	case duration:
		if v.Seconds() == 0 {
			return nil, formatError(zeroDivisionError, "divide")
		}
		return d.Seconds() / v.Seconds(), nil
	case scalar:
		if v.float64 == 0 {
			return nil, formatError(zeroDivisionError, "divide")
		}
		seconds := d.Seconds() / v.float64
		return time.Duration(seconds * float64(time.Second)).String(), nil
	}
	return nil, formatError(typeMismatchError, "divide")
}

func (s scalar) divide(o operand) (any, error) {
	if v, ok := o.(scalar); ok {
		if v.float64 == 0 {
			return nil, formatError(zeroDivisionError, "divide")
		}
		return s.float64 / v.float64, nil
	}
	return nil, formatError(typeMismatchError, "divide")
}

func (q quantity) modulo(o operand) (any, error) {
	if v, ok := o.(quantity); ok {
		f1 := q.ToDec().AsApproximateFloat64()
		f2 := v.ToDec().AsApproximateFloat64()
		i1, i2 := int64(f1), int64(f2)
		if f1 != float64(i1) || f2 != float64(i2) {
			return nil, formatError(nonIntModuloError, "modulo")
		}
		if i2 == 0 {
			return nil, formatError(zeroDivisionError, "modulo")
		}
		return resource.NewQuantity(i1%i2, q.Format).String(), nil
	}
	return nil, formatError(typeMismatchError, "modulo")
}

func (d duration) modulo(o operand) (any, error) {
	if v, ok := o.(duration); ok {
		if v.Duration == 0 {
			return nil, formatError(zeroDivisionError, "modulo")
		}
		return (d.Duration % v.Duration).String(), nil
	}
	return nil, formatError(typeMismatchError, "modulo")
}

func (s scalar) modulo(o operand) (any, error) {
	if v, ok := o.(scalar); ok {
		i1, i2 := int64(s.float64), int64(v.float64)
		if s.float64 != float64(i1) || v.float64 != float64(i2) {
			return nil, formatError(nonIntModuloError, "modulo")
		}
		if i2 == 0 {
			return nil, formatError(zeroDivisionError, "modulo")
		}
		return float64(i1 % i2), nil
	}
	return nil, formatError(typeMismatchError, "modulo")
}
