// Package suite runs policy test suites offline: Kyverno's kyverno-test.yaml
// files (and, with the Gatekeeper dialect, gator suites), checking every
// expected result against what the engine decides.
package suite

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
)

// KyvernoTestFile is the file name of a Kyverno CLI test.
const KyvernoTestFile = "kyverno-test.yaml"

// Result is one expected result checked against one resource.
type Result struct {
	File     string `json:"file"`
	Policy   string `json:"policy"`
	Rule     string `json:"rule"`
	Kind     string `json:"kind"`
	Resource string `json:"resource"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	OK       bool   `json:"ok"`
	Message  string `json:"message"`
}

// Summary counts results.
type Summary struct {
	Total  int `json:"total"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
}

// Report is the outcome of a run.
type Report struct {
	Summary Summary  `json:"summary"`
	Results []Result `json:"results"`
	// Errors are test files that could not be run at all (malformed files);
	// they are not part of the JSON results.
	Errors []error `json:"-"`
}

// Add appends results and updates the summary.
func (r *Report) Add(results ...Result) {
	for _, res := range results {
		r.Summary.Total++
		if res.OK {
			r.Summary.Passed++
		} else {
			r.Summary.Failed++
		}
		r.Results = append(r.Results, res)
	}
}

// Runner runs test files with an engine.
type Runner struct {
	Engine *engine.Engine
	// Registry, when set, is how image rules (verifyImages, image
	// policies) read registries; their tests then run as at admission.
	// Without it they are skipped, as in a background scan.
	Registry image.Registry
	jp       *jmespath.Interpreter
}

func (r *Runner) jmespath() *jmespath.Interpreter {
	if r.jp == nil {
		r.jp = jmespath.New()
	}
	return r.jp
}

// Discover returns the test files below paths, sorted: every
// kyverno-test.yaml and gator suite.yaml, and files given directly.
func Discover(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (d.Name() == KyvernoTestFile || d.Name() == GatorSuiteFile) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// Run runs every test file and returns the report. A file that cannot be
// run is recorded in Report.Errors and the run goes on.
func (r *Runner) Run(ctx context.Context, files []string) *Report {
	rep := &Report{Results: []Result{}}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			rep.Errors = append(rep.Errors, err)
			return rep
		}
		run := r.runKyvernoTest
		if isGatorSuite(f) {
			run = r.runGatorSuite
		}
		results, err := run(ctx, f)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Errorf("%s: %w", f, err))
		}
		rep.Add(results...)
	}
	return rep
}
