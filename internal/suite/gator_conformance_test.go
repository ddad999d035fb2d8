package suite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
)

// TestGatorConformance runs every gator suite of the Gatekeeper library
// corpus, with the default engine choice (CEL where a template has it, as
// Gatekeeper) and with Rego forced. Every case must pass.
func TestGatorConformance(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared", "conformance", "gatekeeper")
	files, err := Discover([]string{root})
	if err != nil {
		t.Fatalf("the conformance corpus must be beside the repository: %v", err)
	}
	if len(files) < 38 {
		t.Fatalf("found %d suites, want at least 38", len(files))
	}
	for _, tc := range []struct {
		name string
		opts []gatekeeper.Option
	}{
		{name: "default"},
		{name: "rego", opts: []gatekeeper.Option{gatekeeper.WithEngine(gatekeeper.EngineRego)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := gatekeeper.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			runner := &Runner{Engine: engine.New(d)}
			start := time.Now()
			rep := runner.Run(context.Background(), files)
			elapsed := time.Since(start)
			for _, e := range rep.Errors {
				t.Errorf("suite error: %v", e)
			}
			for _, r := range rep.Results {
				if !r.OK {
					file, _ := filepath.Rel(root, r.File)
					t.Errorf("%s %s/%s: expected %s, got %s: %s", file, r.Rule, r.Resource, r.Expected, r.Actual, r.Message)
				}
			}
			t.Logf("gator conformance (%s): %d suites, %d/%d cases pass in %v",
				tc.name, len(files), rep.Summary.Passed, rep.Summary.Total, elapsed)
		})
	}
}
