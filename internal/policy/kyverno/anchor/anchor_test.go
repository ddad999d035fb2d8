package anchor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Anchor
	}{
		{"image", Anchor{Key: "image"}},
		{"(image)", Anchor{Type: Condition, Key: "image"}},
		{"=(image)", Anchor{Type: Equality, Key: "image"}},
		{"^(containers)", Anchor{Type: Existence, Key: "containers"}},
		{"X(hostPath)", Anchor{Type: Negation, Key: "hostPath"}},
		{"+(memory)", Anchor{Type: AddIfNotPresent, Key: "memory"}},
		{"<(name)", Anchor{Type: Global, Key: "name"}},
		{"()", Anchor{Key: "()"}},
		{"+()", Anchor{Key: "+()"}},
		{"(a", Anchor{Key: "(a"}},
		{"Y(a)", Anchor{Key: "Y(a)"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}
