package origref

import (
	"regexp"
	"strconv"
	"strings"
)

// yamlFloat is the YAML 1.2 core schema float syntax.
var yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvePlain returns the value an untagged plain YAML scalar with this text
// decodes to (YAML 1.2 core schema, as go-yaml v3 reads it; timestamps and
// infinities, which JSON cannot hold, stay text). kyaml writes such scalars when it rebuilds a node from its text.
func resolvePlain(text string) any {
	switch text {
	case "", "~", "null", "Null", "NULL":
		return nil
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	c := text[0]
	if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' {
		return text
	}
	plain := strings.ReplaceAll(text, "_", "")
	if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return i
	}
	if yamlFloat.MatchString(plain) {
		if f, err := strconv.ParseFloat(plain, 64); err == nil {
			if i, ok := integral(f); ok {
				return i
			}
			return f
		}
	}
	return text
}
