package variables

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/anchor"
)

// childPath is the path of a map value or list element in Kyverno's
// traversal: keys have their slashes escaped.
func childPath(parent, key string) string {
	return parent + "/" + strings.ReplaceAll(key, "/", `\/`)
}

func indexPath(parent string, i int) string {
	return parent + "/" + strconv.Itoa(i)
}

// parsePath splits a traversal path into its components, honouring
// backslash escapes and double-quoted segments (Kyverno's
// jsonpointer.ParsePath).
func parsePath(raw string) []string {
	var parts []string
	var sb strings.Builder
	flush := func() {
		if sb.Len() > 0 {
			parts = append(parts, sb.String())
		}
		sb.Reset()
	}
	escaped, quoted := false, false
	pos := 0
	for i := 0; i < len(raw); {
		r, width := utf8.DecodeRuneInString(raw[i:])
		if r == utf8.RuneError && width == 1 {
			break
		}
		switch {
		case escaped:
			sb.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			if quoted {
				s, _ := strconv.Unquote(raw[pos : i+width])
				sb.WriteString(s)
			}
			quoted = !quoted
		case r == '/' && !quoted:
			flush()
		default:
			sb.WriteRune(r)
		}
		i += width
		pos = i
	}
	flush()
	return parts
}

// atExpression is the JMESPath expression Kyverno substitutes for {{@}}: the
// path of the string, after the "foreach" component and minus two leading
// components (e.g. mutate.patchStrategicMerge), under prefix.
func atExpression(dataPath, prefix string) string {
	p := parsePath(dataPath)
	for i, c := range p {
		if c == "foreach" {
			p = p[i+1:]
			break
		}
	}
	if 2 > len(p)-1 {
		p = nil
	} else {
		p = p[2:]
	}
	p = append(strings.Split(prefix, "."), p...)
	return pointerJMESPath(p)
}

func unquotedFirst(r rune) bool {
	return r == '(' || r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
}

func unquotedRest(r rune) bool {
	return r == ')' || r == '_' || (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
}

func unescaped(r rune) bool {
	return (r >= 0x20 && r <= 0x21) || (r >= 0x23 && r <= 0x5B) || r >= 0x5D
}

var escapes = map[rune]string{
	'"': `\"`, '\\': `\\`, '/': `\/`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`,
}

// pointerJMESPath renders path components as a JMESPath expression
// (Kyverno's jsonpointer.Pointer.JMESPath).
func pointerJMESPath(p []string) string {
	var sb strings.Builder
	for _, c := range p {
		if _, err := strconv.ParseUint(c, 10, 64); err == nil {
			sb.WriteString("[" + c + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		first, _ := utf8.DecodeRuneInString(c)
		if unquotedFirst(first) && strings.IndexFunc(c, func(r rune) bool { return !unquotedRest(r) }) == -1 {
			sb.WriteString(c)
			continue
		}
		sb.WriteByte('"')
		for _, r := range c {
			if unescaped(r) {
				sb.WriteRune(r)
			} else if e, ok := escapes[r]; ok {
				sb.WriteString(e)
			} else if utf8.RuneLen(r) <= 2 {
				fmt.Fprintf(&sb, "\\u%04x", r&0xffff)
			} else {
				fmt.Fprintf(&sb, "\\u%04x\\u%04x", r&0xffff, r>>16)
			}
		}
		sb.WriteByte('"')
	}
	return sb.String()
}

// removeAnchorsFromPath strips anchors from every component of a path
// (Kyverno's anchor.RemoveAnchorsFromPath).
func removeAnchorsFromPath(p string) string {
	parts := strings.Split(p, "/")
	if parts[0] == "" {
		parts = parts[1:]
	}
	for i, part := range parts {
		parts[i] = anchor.Parse(part).Key
	}
	out := path.Join(parts...)
	if path.IsAbs(p) {
		out = "/" + out
	}
	return out
}
