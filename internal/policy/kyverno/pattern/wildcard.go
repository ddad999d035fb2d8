package pattern

import (
	"strings"
	"unicode/utf8"
)

// Wildcard reports whether s matches the wildcard pattern the way Kyverno
// matches strings: '*' matches any sequence of characters (including none)
// and '?' matches exactly one character; every other character matches
// itself. There is no escape character. An empty pattern matches only the
// empty string. Characters are Unicode code points, as in Kyverno.
//
// The match runs in O(len(pattern) * len(s)) time at worst.
func Wildcard(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	if pattern == "*" {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	px, sx := 0, 0
	// Position in the pattern just after the last '*' seen, and the position
	// in s that this '*' currently extends to.
	starPx, starSx := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px+1, sx
				px++
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(s[sx:])
				px++
				sx += w
				continue
			default:
				pr, pw := utf8.DecodeRuneInString(pattern[px:])
				sr, sw := utf8.DecodeRuneInString(s[sx:])
				if pr == sr {
					px += pw
					sx += sw
					continue
				}
			}
		}
		if starPx < 0 {
			return false
		}
		// Let the last '*' absorb one more character and retry from there.
		_, w := utf8.DecodeRuneInString(s[starSx:])
		starSx += w
		px, sx = starPx, starSx
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// containsWildcard reports whether s has a '*' or a '?'.
func containsWildcard(s string) bool { return strings.ContainsAny(s, "*?") }
