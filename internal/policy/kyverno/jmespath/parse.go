package jmespath

import (
	"errors"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

type kind uint8

const (
	kField kind = iota
	kSub
	kIndex
	kSlice
	kProjection
	kFilter
	kFlatten
	kValueProjection
	kCurrent
	kLiteral
	kMultiList
	kMultiHash
	kKeyVal
	kOr
	kAnd
	kNot
	kPipe
	kCompare
	kFunction
	kExpRef
)

type cmpOp uint8

const (
	opEQ cmpOp = iota
	opNE
	opLT
	opLTE
	opGT
	opGTE
)

// node is the interpreter's form of a parsed expression.
type node struct {
	kind  kind
	str   string // field name, function name or multi-select hash key
	val   any    // literal value
	index int
	slice [3]*int
	op    cmpOp
	fn    *function // resolved function; nil when unknown
	kids  []*node
}

// fixRawStrings rewrites raw string literals so that the community lexer,
// which unescapes both \' and \\, yields the value Kyverno's fork yields: the
// fork only unescapes \'.
func fixRawStrings(expr string) string {
	if !strings.Contains(expr, `\`) {
		return expr
	}
	var b strings.Builder
	b.Grow(len(expr) + 8)
	for i := 0; i < len(expr); {
		c := expr[i]
		switch c {
		case '`', '"':
			// JSON literal or quoted identifier: copy through to the closing
			// delimiter, skipping backslash escapes as the lexers do.
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && j+1 < len(expr) {
					j++
				}
				j++
			}
			if j < len(expr) {
				j++
			}
			b.WriteString(expr[i:j])
			i = j
		case '\'':
			// Decode with the fork's rules, then encode for the community
			// lexer.
			var raw strings.Builder
			j := i + 1
			closed := false
			for j < len(expr) {
				if expr[j] == '\\' && j+1 < len(expr) && expr[j+1] == '\'' {
					raw.WriteByte('\'')
					j += 2
					continue
				}
				if expr[j] == '\'' {
					closed = true
					j++
					break
				}
				raw.WriteByte(expr[j])
				j++
			}
			// An unterminated literal stays unterminated, so that it is a
			// syntax error as in the fork.
			b.WriteByte('\'')
			for _, r := range []byte(raw.String()) {
				switch r {
				case '\\':
					b.WriteString(`\\`)
				case '\'':
					b.WriteString(`\'`)
				default:
					b.WriteByte(r)
				}
			}
			if !closed {
				return b.String()
			}
			b.WriteByte('\'')
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

var errUnsupported = errors.New("SyntaxError: unsupported expression (arithmetic operators, $ and let are not part of Kyverno's JMESPath)")

func (i *Interpreter) convert(ast parsing.ASTNode) (*node, error) {
	n := &node{}
	switch ast.NodeType {
	case parsing.ASTField:
		n.kind = kField
		n.str, _ = ast.Value.(string)
	case parsing.ASTSubexpression, parsing.ASTIndexExpression:
		n.kind = kSub
	case parsing.ASTIndex:
		n.kind = kIndex
		n.index, _ = ast.Value.(int)
	case parsing.ASTSlice:
		n.kind = kSlice
		parts, _ := ast.Value.([]*int)
		copy(n.slice[:], parts)
	case parsing.ASTProjection:
		n.kind = kProjection
	case parsing.ASTFilterProjection:
		n.kind = kFilter
	case parsing.ASTFlatten:
		n.kind = kFlatten
	case parsing.ASTValueProjection:
		n.kind = kValueProjection
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		n.kind = kCurrent
	case parsing.ASTLiteral:
		n.kind = kLiteral
		n.val = ast.Value
	case parsing.ASTMultiSelectList:
		n.kind = kMultiList
	case parsing.ASTMultiSelectHash:
		n.kind = kMultiHash
	case parsing.ASTKeyValPair:
		n.kind = kKeyVal
		n.str, _ = ast.Value.(string)
	case parsing.ASTOrExpression:
		n.kind = kOr
	case parsing.ASTAndExpression:
		n.kind = kAnd
	case parsing.ASTNotExpression:
		n.kind = kNot
	case parsing.ASTPipe:
		n.kind = kPipe
	case parsing.ASTComparator:
		n.kind = kCompare
		switch ast.Value {
		case parsing.TOKEQ:
			n.op = opEQ
		case parsing.TOKNE:
			n.op = opNE
		case parsing.TOKLT:
			n.op = opLT
		case parsing.TOKLTE:
			n.op = opLTE
		case parsing.TOKGT:
			n.op = opGT
		case parsing.TOKGTE:
			n.op = opGTE
		default:
			return nil, errUnsupported
		}
	case parsing.ASTFunctionExpression:
		n.kind = kFunction
		n.str, _ = ast.Value.(string)
		n.fn = i.functions[n.str]
	case parsing.ASTExpRef:
		n.kind = kExpRef
	default:
		return nil, errUnsupported
	}
	if len(ast.Children) > 0 {
		n.kids = make([]*node, len(ast.Children))
		for k, c := range ast.Children {
			kid, err := i.convert(c)
			if err != nil {
				return nil, err
			}
			n.kids[k] = kid
		}
	}
	if err := checkArity(n); err != nil {
		return nil, err
	}
	return n, nil
}

// checkArity guards the interpreter against AST shapes it does not expect.
func checkArity(n *node) error {
	want := -1
	switch n.kind {
	case kSub, kProjection, kOr, kAnd, kPipe, kCompare:
		want = 2
	case kFilter:
		want = 3
	case kFlatten, kNot, kKeyVal, kExpRef:
		want = 1
	case kValueProjection:
		want = 2
	}
	if want >= 0 && len(n.kids) != want {
		return errors.New("SyntaxError: malformed expression")
	}
	if n.kind == kMultiHash {
		for _, k := range n.kids {
			if k.kind != kKeyVal {
				return errors.New("SyntaxError: malformed expression")
			}
		}
	}
	return nil
}
