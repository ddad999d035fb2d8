package jmespath

import (
	"crypto/md5"  // #nosec G501 -- Kyverno's md5() function.
	"crypto/sha1" // #nosec G505 -- Kyverno's sha1() function.
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/blang/semver/v4"
	"sigs.k8s.io/yaml"
)

// Kyverno's error message formats (pkg/engine/jmespath/error.go).
const (
	errorPrefix              = "JMESPath function '%s': "
	invalidArgumentTypeError = errorPrefix + "argument #%d is not of type %s"
	genericError             = errorPrefix + "%s"
	argOutOfBoundsError      = errorPrefix + "%d argument is out of bounds (%d)"
	zeroDivisionError        = errorPrefix + "Zero divisor passed"
	nonIntModuloError        = errorPrefix + "Non-integer argument(s) passed for modulo"
	typeMismatchError        = errorPrefix + "Types mismatch"
	nonIntRoundError         = errorPrefix + "Non-integer argument(s) passed for round off"
)

func formatError(format string, function string, values ...any) error {
	return fmt.Errorf(format, append([]any{function}, values...)...)
}

// kyvernoFunctions are the functions Kyverno registers on top of the
// standard ones (pkg/engine/jmespath/functions.go and time.go).
func kyvernoFunctions() []*function {
	s, n, o, a, any_ := tString, tNumber, tObject, tArray, tAny
	return []*function{
		{name: "compare", args: [][]jpType{{s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return float64(strings.Compare(x[0].(string), x[1].(string))), nil
		}},
		{name: "equal_fold", args: [][]jpType{{s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return strings.EqualFold(x[0].(string), x[1].(string)), nil
		}},
		{name: "replace", args: [][]jpType{{s}, {s}, {s}, {n}}, handler: func(_ *evaluator, x []any) (any, error) {
			count := x[3].(float64)
			if count > math.MaxInt32 || count < math.MinInt32 {
				count = -1
			}
			return strings.Replace(x[0].(string), x[1].(string), x[2].(string), int(count)), nil
		}},
		{name: "replace_all", args: [][]jpType{{s}, {s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return strings.ReplaceAll(x[0].(string), x[1].(string), x[2].(string)), nil
		}},
		{name: "to_upper", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return strings.ToUpper(x[0].(string)), nil
		}},
		{name: "to_lower", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return strings.ToLower(x[0].(string)), nil
		}},
		{name: "trim", args: [][]jpType{{s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return strings.Trim(x[0].(string), x[1].(string)), nil
		}},
		{name: "trim_prefix", args: [][]jpType{{s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return strings.TrimPrefix(x[0].(string), x[1].(string)), nil
		}},
		{name: "split", args: [][]jpType{{s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			parts := strings.Split(x[0].(string), x[1].(string))
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}},
		{name: "regex_replace_all", args: [][]jpType{{s}, {s, n}, {s, n}}, handler: func(e *evaluator, x []any) (any, error) {
			return regexReplace(e, "regex_replace_all", x, false)
		}},
		{name: "regex_replace_all_literal", args: [][]jpType{{s}, {s, n}, {s, n}}, handler: func(e *evaluator, x []any) (any, error) {
			return regexReplace(e, "regex_replace_all_literal", x, true)
		}},
		{name: "regex_match", args: [][]jpType{{s}, {s, n}}, handler: jpRegexMatch},
		{name: "pattern_match", args: [][]jpType{{s}, {s, n}}, handler: func(_ *evaluator, x []any) (any, error) {
			src, err := ifaceToString(x[1])
			if err != nil {
				return nil, formatError(invalidArgumentTypeError, "regex_match", 2, "String or Real")
			}
			return wildcardMatch(x[0].(string), src), nil
		}},
		{name: "label_match", args: [][]jpType{{o}, {o}}, handler: func(_ *evaluator, x []any) (any, error) {
			labels, match := x[0].(map[string]any), x[1].(map[string]any)
			for k, v := range labels {
				if mv, ok := match[k]; !ok || !equal(mv, v) {
					return false, nil
				}
			}
			return true, nil
		}},
		{name: "to_boolean", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			switch in := x[0].(string); strings.ToLower(in) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			default:
				return nil, formatError(genericError, "to_boolean", fmt.Sprintf("lowercase argument must be 'true' or 'false' (provided: '%s')", in))
			}
		}},
		{name: "add", args: [][]jpType{{any_}, {any_}}, handler: func(_ *evaluator, x []any) (any, error) {
			return arithmeticAdd(x[0], x[1], "add")
		}},
		{name: "sum", args: [][]jpType{{a}}, handler: jpSum},
		{name: "subtract", args: [][]jpType{{any_}, {any_}}, handler: func(_ *evaluator, x []any) (any, error) {
			return arithmetic(x, "subtract", operand.subtract)
		}},
		{name: "multiply", args: [][]jpType{{any_}, {any_}}, handler: func(_ *evaluator, x []any) (any, error) {
			return arithmetic(x, "multiply", operand.multiply)
		}},
		{name: "divide", args: [][]jpType{{any_}, {any_}}, handler: func(_ *evaluator, x []any) (any, error) {
			return arithmetic(x, "divide", operand.divide)
		}},
		{name: "modulo", args: [][]jpType{{any_}, {any_}}, handler: func(_ *evaluator, x []any) (any, error) {
			return arithmetic(x, "modulo", operand.modulo)
		}},
		{name: "round", args: [][]jpType{{n}, {n}}, handler: jpRound},
		{name: "base64_decode", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			b, err := base64.StdEncoding.DecodeString(x[0].(string))
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}},
		{name: "base64_encode", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return base64.StdEncoding.EncodeToString([]byte(x[0].(string))), nil
		}},
		{name: "path_canonicalize", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			return filepath.Join(x[0].(string)), nil
		}},
		{name: "truncate", args: [][]jpType{{s}, {n}}, handler: func(_ *evaluator, x []any) (any, error) {
			str, length := x[0].(string), x[1].(float64)
			if length < 1 {
				return "", nil
			}
			r := []rune(str)
			if length >= float64(len(r)) {
				return str, nil
			}
			return string(r[:int(length)]), nil
		}},
		{name: "semver_compare", args: [][]jpType{{s}, {s}}, handler: func(_ *evaluator, x []any) (any, error) {
			version, _ := semver.Parse(x[0].(string))
			expected, err := semver.ParseRange(x[1].(string))
			if err != nil {
				return nil, err
			}
			return expected(version), nil
		}},
		{name: "parse_json", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			var out any
			err := json.Unmarshal([]byte(x[0].(string)), &out)
			return out, err
		}},
		{name: "parse_yaml", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			j, err := yaml.YAMLToJSON([]byte(x[0].(string)))
			if err != nil {
				return nil, err
			}
			var out any
			err = json.Unmarshal(j, &out)
			return out, err
		}},
		{name: "lookup", args: [][]jpType{{o, a}, {s, n}}, handler: jpLookup},
		{name: "items", args: [][]jpType{{o, a}, {s}, {s}}, handler: jpItems},
		{name: "object_from_lists", args: [][]jpType{{a}, {a}}, handler: jpObjectFromLists},
		{name: "random", args: [][]jpType{{s}}, handler: jpRandom},
		{name: "x509_decode", args: [][]jpType{{s}}, handler: jpX509Decode},
		{name: "image_normalize", args: [][]jpType{{s}}, handler: func(e *evaluator, x []any) (any, error) {
			info, err := parseImage(x[0].(string), e.in.cfg.defaultRegistry, e.in.cfg.registryMutate)
			if err != nil {
				return nil, formatError(genericError, "image_normalize", err)
			}
			return info.String(), nil
		}},
		{name: "is_external_url", args: [][]jpType{{s}}, handler: jpIsExternalURL},
		{name: "sha256", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			sum := sha256.Sum256([]byte(x[0].(string)))
			return hex.EncodeToString(sum[:]), nil
		}},
		{name: "sha1", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			sum := sha1.Sum([]byte(x[0].(string))) // #nosec G401 -- Kyverno's sha1() function.
			return hex.EncodeToString(sum[:]), nil
		}},
		{name: "md5", args: [][]jpType{{s}}, handler: func(_ *evaluator, x []any) (any, error) {
			sum := md5.Sum([]byte(x[0].(string))) // #nosec G401 -- Kyverno's md5() function.
			return hex.EncodeToString(sum[:]), nil
		}},
		{name: "time_since", args: [][]jpType{{s}, {s}, {s}}, handler: jpTimeSince},
		{name: "time_now", handler: func(e *evaluator, _ []any) (any, error) {
			return e.in.cfg.clock().Format(rfc3339), nil
		}},
		{name: "time_now_utc", handler: func(e *evaluator, _ []any) (any, error) {
			return e.in.cfg.clock().UTC().Format(rfc3339), nil
		}},
		{name: "time_to_cron", args: [][]jpType{{s}}, handler: jpTimeToCron},
		{name: "time_add", args: [][]jpType{{s}, {s}}, handler: jpTimeAdd},
		{name: "time_parse", args: [][]jpType{{s}, {s}}, handler: jpTimeParse},
		{name: "time_utc", args: [][]jpType{{s}}, handler: jpTimeUtc},
		{name: "time_diff", args: [][]jpType{{s}, {s}}, handler: jpTimeDiff},
		{name: "time_before", args: [][]jpType{{s}, {s}}, handler: jpTimeBefore},
		{name: "time_after", args: [][]jpType{{s}, {s}}, handler: jpTimeAfter},
		{name: "time_between", args: [][]jpType{{s}, {s}, {s}}, handler: jpTimeBetween},
		{name: "time_truncate", args: [][]jpType{{s}, {s}}, handler: jpTimeTruncate},
	}
}

// ifaceToString is Kyverno's conversion of string-or-number arguments; note
// that numbers are formatted with float32 precision.
func ifaceToString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	}
	if f, ok := toNumber(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 32), nil
	}
	return "", errors.New("error, undefined type cast")
}

type regexpEntry struct {
	re  *regexp.Regexp
	err error
}

// compileRegexp compiles through the Interpreter's bounded cache, so that
// patterns repeated across evaluations are compiled once.
func (e *evaluator) compileRegexp(pattern string) (*regexp.Regexp, error) {
	if entry, ok := e.in.regexps.get(pattern); ok {
		return entry.re, entry.err
	}
	re, err := regexp.Compile(pattern)
	e.in.regexps.put(pattern, regexpEntry{re: re, err: err})
	return re, err
}

func regexReplace(e *evaluator, name string, x []any, literal bool) (any, error) {
	src, err := ifaceToString(x[1])
	if err != nil {
		return nil, formatError(invalidArgumentTypeError, name, 2, "String or Real")
	}
	repl, err := ifaceToString(x[2])
	if err != nil {
		return nil, formatError(invalidArgumentTypeError, name, 3, "String or Real")
	}
	re, err := e.compileRegexp(x[0].(string))
	if err != nil {
		return nil, formatError(genericError, name, err.Error())
	}
	if literal {
		return re.ReplaceAllLiteralString(src, repl), nil
	}
	return re.ReplaceAllString(src, repl), nil
}

func jpRegexMatch(e *evaluator, x []any) (any, error) {
	src, err := ifaceToString(x[1])
	if err != nil {
		return nil, formatError(invalidArgumentTypeError, "regex_match", 2, "String or Real")
	}
	re, err := e.compileRegexp(x[0].(string))
	if err != nil {
		return false, err
	}
	return re.MatchString(src), nil
}

// wildcardMatch is Kyverno's pattern_match: '*' matches any run of
// characters and '?' exactly one; anything else matches itself.
func wildcardMatch(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	if pattern == "*" {
		return true
	}
	p, s := []rune(pattern), []rune(name)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || (p[pi] != '*' && p[pi] == s[si])):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func jpRound(_ *evaluator, x []any) (any, error) {
	value, places := x[0].(float64), x[1].(float64)
	if math.IsInf(places, 0) || math.IsNaN(places) || math.Trunc(places) != places || places > math.MaxInt32 || places < math.MinInt32 {
		return nil, formatError(nonIntRoundError, "round")
	}
	if places < 0 {
		// Kyverno formats this message without its operands.
		return nil, errors.New("JMESPath function 'round': %!d(MISSING) argument is out of bounds (%!d(MISSING))")
	}
	shift := math.Pow(10, places)
	return math.Round(value*shift) / shift, nil
}

func jpLookup(_ *evaluator, x []any) (any, error) {
	switch input := x[0].(type) {
	case map[string]any:
		key, ok := x[1].(string)
		if !ok {
			return nil, formatError(invalidArgumentTypeError, "lookup", 2, "String")
		}
		return input[key], nil
	default:
		arr := input.([]any)
		key, ok := x[1].(float64)
		if !ok {
			return nil, formatError(invalidArgumentTypeError, "lookup", 2, "Number")
		}
		if math.IsInf(key, 0) || math.IsNaN(key) || math.Trunc(key) != key {
			return nil, fmt.Errorf("JMESPath function 'lookup': argument #2: expected an integer number but got: %g", key)
		}
		if key < 0 || key > float64(len(arr)-1) {
			return nil, nil
		}
		return arr[int(key)], nil
	}
}

func jpItems(_ *evaluator, x []any) (any, error) {
	keyName, valName := x[1].(string), x[2].(string)
	switch input := x[0].(type) {
	case map[string]any:
		keys := make([]string, 0, len(input))
		for k := range input {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			out = append(out, map[string]any{keyName: k, valName: input[k]})
		}
		return out, nil
	default:
		arr := input.([]any)
		out := make([]any, 0, len(arr))
		for i, v := range arr {
			out = append(out, map[string]any{keyName: float64(i), valName: v})
		}
		return out, nil
	}
}

func jpObjectFromLists(_ *evaluator, x []any) (any, error) {
	keys, values := x[0].([]any), x[1].([]any)
	out := make(map[string]any, len(keys))
	for i, k := range keys {
		key, err := ifaceToString(k)
		if err != nil {
			return nil, formatError(invalidArgumentTypeError, "object_from_lists", 1, "StringArray")
		}
		if i < len(values) {
			out[key] = values[i]
		} else {
			out[key] = nil
		}
	}
	return out, nil
}

func jpSum(_ *evaluator, x []any) (any, error) {
	items := x[0].([]any)
	if len(items) == 0 {
		return nil, formatError(genericError, "sum", "at least one element in the array is required")
	}
	result := items[0]
	if f, ok := toNumber(result); ok {
		result = f
	}
	for _, item := range items[1:] {
		var err error
		if result, err = arithmeticAdd(result, item, "sum"); err != nil {
			return nil, err
		}
	}
	return result, nil
}
