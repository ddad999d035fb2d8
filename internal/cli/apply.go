package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/suite"
)

// applyResult is one line of `apply -o json`.
type applyResult struct {
	Policy   string `json:"policy"`
	Rule     string `json:"rule"`
	Kind     string `json:"kind"`
	Resource string `json:"resource"`
	Result   string `json:"result"`
	Message  string `json:"message"`
}

// applySummary counts results as `kyverno apply` does: one per rule that
// applied to a resource.
type applySummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

func (s *applySummary) add(result string) {
	switch result {
	case "pass":
		s.Pass++
	case "fail":
		s.Fail++
	case "warn":
		s.Warn++
	case "error":
		s.Error++
	case "skip":
		s.Skip++
	}
}

type applyOptions struct {
	policies  []string
	resources []string
	output    string
	auditWarn bool
	workers   int
	images    imageOptions
}

func newApplyCommand(stdio IO) *cobra.Command {
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply -p POLICY... -r RESOURCE...",
		Short: "Apply policies to resources offline, as admission would",
		Long: `Apply policies to resources offline: every resource is mutated and then
validated, as the API server's admission chain does. Policies and resources are
files, folders or - for standard input, holding multi-document YAML or Lists.
Resources are streamed: memory does not grow with their number.

Exit codes: 0 when nothing would be denied, 1 when a result would deny its
resource at admission (an enforced fail or error), 2 on bad input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runApply(cmd.Context(), stdio, o)
		},
	}
	cmd.Flags().StringSliceVarP(&o.policies, "policy", "p", nil, "policy files or folders (repeatable)")
	cmd.Flags().StringSliceVarP(&o.resources, "resource", "r", nil, "resource files or folders, - for standard input (repeatable)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, json or policyreport")
	cmd.Flags().BoolVar(&o.auditWarn, "audit-warn", false, "count failures of Audit policies as warnings")
	cmd.Flags().IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "resources evaluated in parallel")
	o.images.addFlags(cmd)
	return cmd
}

func runApply(ctx context.Context, stdio IO, o applyOptions) error {
	switch o.output {
	case "table", "json", "policyreport":
	default:
		return badInput(fmt.Errorf("unknown output format %q: use table, json or policyreport", o.output))
	}
	if len(o.policies) == 0 || len(o.resources) == 0 {
		return badInput(fmt.Errorf("apply needs at least one --policy and one --resource"))
	}
	if o.workers < 1 {
		o.workers = 1
	}
	batchGC()
	eng, reg, err := o.images.engine(nil, engineOptions{includeAllNamespaces: true})
	if err != nil {
		return badInput(err)
	}
	cluster := engine.Cluster{Registry: reg}
	pols, err := manifest.ReadAll(o.policies, stdio.In)
	if err != nil {
		return badInput(err)
	}
	docs := make([]engine.Document, 0, len(pols))
	for _, p := range pols {
		docs = append(docs, engine.Document{Source: p.Source, Object: p.Object})
	}
	set, errs := eng.Compile(docs)
	if len(errs) > 0 {
		return badInput(errs.ToAggregate())
	}

	out := bufio.NewWriterSize(stdio.Out, 64<<10)
	defer out.Flush()
	w := newApplyWriter(out, o.output)

	// A pipeline: one goroutine splits the input into documents, workers
	// decode and evaluate them, and results are written in input order.
	// Every buffer is bounded, so memory stays flat however many resources
	// stream through.
	type job struct {
		source  string
		index   int
		doc     []byte
		objs    []manifest.Object
		results []engine.Result
		err     error
		done    chan struct{}
	}
	jobs := make(chan *job, o.workers*4)
	ordered := make(chan *job, o.workers*4)
	var readErr error
	go func() {
		defer close(jobs)
		defer close(ordered)
		readErr = manifest.SplitFiles(o.resources, stdio.In, func(source string, index int, doc []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			j := &job{source: source, index: index, doc: doc, done: make(chan struct{})}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case ordered <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	var wg sync.WaitGroup
	for i := 0; i < o.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				objs, err := manifest.DecodeObjects(j.doc)
				j.doc = nil
				if err != nil {
					j.err = &manifest.Error{Source: j.source, Index: j.index, Err: err}
					close(j.done)
					continue
				}
				for _, obj := range objs {
					manifest.DefaultNamespace(obj)
					j.objs = append(j.objs, manifest.Object{Source: j.source, Index: j.index, Object: obj})
					j.results = append(j.results, set.Evaluate(ctx, requestFor(obj), cluster))
				}
				close(j.done)
			}
		}()
	}
	denied := false
	for j := range ordered {
		<-j.done
		if j.err != nil && readErr == nil {
			readErr = j.err
		}
		for k, res := range j.results {
			for _, rr := range res.Rules {
				if rr.Blocks() {
					denied = true
				}
				result := string(rr.Verdict)
				if rr.Verdict == engine.Fail && (rr.Properties[suite.PropertyScored] == "false" || (o.auditWarn && rr.Action != engine.ActionDeny)) {
					result = string(engine.Warn)
				}
				w.write(j.objs[k], rr, result)
			}
		}
	}
	wg.Wait()
	if readErr != nil {
		w.abort()
		return badInput(readErr)
	}
	if err := w.finish(); err != nil {
		return err
	}
	if denied {
		return &exitError{code: ExitFailed}
	}
	return nil
}

// batchGC tunes the garbage collector for batch commands, which allocate
// short-lived objects at a high rate while their live heap stays small: the
// collector runs a quarter as often, and a soft limit keeps the heap
// bounded.
func batchGC() { tuneGC(400, 512<<20) }

// serverGC tunes the garbage collector for the webhook server, whose live
// heap is the compiled policies plus the requests in flight: the collector
// runs half as often as by default, which costs a few MiB of heap and saves
// a tenth of the CPU under load. No soft limit is set; a deployment gives
// one through GOMEMLIMIT, usually from its container's memory limit.
func serverGC() { tuneGC(200, 0) }

// tuneGC sets the GC percentage and, when limit > 0, a soft memory limit.
// GOGC and GOMEMLIMIT in the environment take precedence.
func tuneGC(percent int, limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	if limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}

// requestFor builds the CREATE request that admitting obj would make.
func requestFor(obj map[string]any) engine.Request {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	namespace, _ := md["namespace"].(string)
	return engine.Request{
		Kind:      schema.FromAPIVersionAndKind(apiVersion, kind),
		Name:      name,
		Namespace: namespace,
		Operation: engine.Create,
		Object:    obj,
	}
}

func resourceName(obj manifest.Object) string {
	if ns := obj.Namespace(); ns != "" {
		return ns + "/" + obj.Name()
	}
	return obj.Name()
}

// applyWriter writes results as they come.
type applyWriter struct {
	w       io.Writer
	format  string
	summary applySummary
	first   bool
	tw      *tabwriter.Writer
	report  []reportResult
}

func newApplyWriter(w io.Writer, format string) *applyWriter {
	aw := &applyWriter{w: w, format: format, first: true}
	switch format {
	case "json":
		io.WriteString(w, "{\"results\":[")
	case "table":
		aw.tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(aw.tw, "POLICY\tRULE\tRESOURCE\tRESULT\tMESSAGE")
	}
	return aw
}

func (a *applyWriter) write(obj manifest.Object, rr engine.RuleResult, result string) {
	a.summary.add(result)
	switch a.format {
	case "json":
		b, _ := json.Marshal(applyResult{Policy: rr.Policy.Name, Rule: rr.Rule, Kind: obj.Kind(), Resource: resourceName(obj), Result: result, Message: rr.Message})
		if !a.first {
			io.WriteString(a.w, ",")
		}
		a.first = false
		io.WriteString(a.w, "\n")
		a.w.Write(b)
	case "table":
		fmt.Fprintf(a.tw, "%s\t%s\t%s/%s\t%s\t%s\n", rr.Policy.Name, rr.Rule, obj.Kind(), resourceName(obj), result, oneLine(rr.Message))
	case "policyreport":
		a.report = append(a.report, newReportResult(obj, rr, result))
	}
}

func (a *applyWriter) abort() {
	if a.tw != nil {
		a.tw.Flush()
	}
}

func (a *applyWriter) finish() error {
	switch a.format {
	case "json":
		b, err := json.Marshal(a.summary)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.w, "\n],\"summary\":%s}\n", b)
		return err
	case "table":
		if err := a.tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(a.w, "\npass: %d, fail: %d, warn: %d, error: %d, skip: %d\n",
			a.summary.Pass, a.summary.Fail, a.summary.Warn, a.summary.Error, a.summary.Skip)
		return err
	case "policyreport":
		return writePolicyReport(a.w, a.report, a.summary)
	}
	return nil
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\t' {
			b[i] = ' '
		}
	}
	return string(b)
}

// reportResult is one result of a wgpolicyk8s.io/v1alpha2 PolicyReport.
type reportResult struct {
	Policy    string            `json:"policy"`
	Rule      string            `json:"rule,omitempty"`
	Result    string            `json:"result"`
	Message   string            `json:"message,omitempty"`
	Source    string            `json:"source"`
	Scored    bool              `json:"scored"`
	Category  string            `json:"category,omitempty"`
	Severity  string            `json:"severity,omitempty"`
	Resources []reportObjectRef `json:"resources"`
	Timestamp map[string]int64  `json:"timestamp"`
}

type reportObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func newReportResult(obj manifest.Object, rr engine.RuleResult, result string) reportResult {
	return reportResult{
		Policy:    rr.Policy.Name,
		Rule:      rr.Rule,
		Result:    result,
		Message:   rr.Message,
		Source:    rr.Policy.Dialect,
		Scored:    rr.Properties[suite.PropertyScored] != "false",
		Category:  rr.Properties["category"],
		Severity:  rr.Properties["severity"],
		Resources: []reportObjectRef{{APIVersion: obj.APIVersion(), Kind: obj.Kind(), Namespace: obj.Namespace(), Name: obj.Name()}},
		Timestamp: map[string]int64{"seconds": time.Now().Unix(), "nanos": 0},
	}
}

func writePolicyReport(w io.Writer, results []reportResult, s applySummary) error {
	if results == nil {
		results = []reportResult{}
	}
	report := map[string]any{
		"apiVersion": "wgpolicyk8s.io/v1alpha2",
		"kind":       "ClusterPolicyReport",
		"metadata":   map[string]any{"name": "merged"},
		"results":    results,
		"summary":    s,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}
