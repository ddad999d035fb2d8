package cli

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-dev/portcullis/internal/policy/gatekeeper"
	"github.com/portcullis-dev/portcullis/internal/suite"
)

func newTestCommand(stdio IO) *cobra.Command {
	var output string
	var failOnly bool
	var images imageOptions
	cmd := &cobra.Command{
		Use:   "test [PATH]...",
		Short: "Run kyverno-test.yaml files and gator suites found below the paths",
		Long: `Run every kyverno-test.yaml (Kyverno CLI tests) and suite.yaml (Gatekeeper gator
suites) found below the given paths (default: the current directory) and check
each expected result. Exit code 0 when every expected result matched, 1 when
one did not, 2 when a test file could not be run.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			switch output {
			case "table", "json", "junit":
			default:
				return badInput(fmt.Errorf("unknown output format %q: use table, json or junit", output))
			}
			batchGC()
			files, err := suite.Discover(args)
			if err != nil {
				return badInput(err)
			}
			if len(files) == 0 {
				return badInput(fmt.Errorf("no %s or %s found below %s", suite.KyvernoTestFile, suite.GatorSuiteFile, strings.Join(args, ", ")))
			}
			// Gator evaluates scoped constraints for its own enforcement point.
			eng, reg, err := images.engine(nil, engineOptions{enforcementPoint: gatekeeper.EnforcementPointGator})
			if err != nil {
				return badInput(err)
			}
			runner := &suite.Runner{Engine: eng, Registry: reg}
			rep := runner.Run(cmd.Context(), files)
			switch output {
			case "json":
				enc := json.NewEncoder(stdio.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			case "junit":
				if err := writeJUnit(stdio.Out, rep); err != nil {
					return err
				}
			default:
				writeTestTable(stdio.Out, rep, failOnly)
			}
			for _, e := range rep.Errors {
				fmt.Fprintln(stdio.Err, "Error:", e)
			}
			if len(rep.Errors) > 0 {
				return &exitError{code: ExitBadInput}
			}
			if rep.Summary.Failed > 0 {
				return &exitError{code: ExitFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or junit")
	cmd.Flags().BoolVar(&failOnly, "fail-only", false, "list only the results that did not match")
	images.addFlags(cmd)
	return cmd
}

func writeTestTable(w io.Writer, rep *suite.Report, failOnly bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tPOLICY\tRULE\tRESOURCE\tEXPECTED\tACTUAL\tFILE")
	for _, r := range rep.Results {
		if failOnly && r.OK {
			continue
		}
		status := "ok"
		if !r.OK {
			status = "FAIL"
		}
		res := r.Resource
		if r.Kind != "" {
			res = r.Kind + "/" + r.Resource
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", status, r.Policy, r.Rule, res, r.Expected, r.Actual, r.File)
	}
	tw.Flush()
	for _, r := range rep.Results {
		if !r.OK && r.Message != "" {
			fmt.Fprintf(w, "\n%s %s/%s %s: %s", r.File, r.Policy, r.Rule, r.Resource, r.Message)
		}
	}
	fmt.Fprintf(w, "\nTest summary: %d passed, %d failed, %d total\n", rep.Summary.Passed, rep.Summary.Failed, rep.Summary.Total)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(w io.Writer, rep *suite.Report) error {
	out := junitSuites{Tests: rep.Summary.Total, Failures: rep.Summary.Failed}
	index := map[string]int{}
	for _, r := range rep.Results {
		i, ok := index[r.File]
		if !ok {
			i = len(out.Suites)
			index[r.File] = i
			out.Suites = append(out.Suites, junitSuite{Name: r.File})
		}
		s := &out.Suites[i]
		c := junitCase{Name: fmt.Sprintf("%s/%s %s/%s", r.Policy, r.Rule, r.Kind, r.Resource), ClassName: r.Policy}
		if !r.OK {
			c.Failure = &junitFailure{Message: fmt.Sprintf("expected %s, got %s", r.Expected, r.Actual), Text: r.Message}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
