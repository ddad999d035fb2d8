package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/manifest"
	"github.com/portcullis-dev/portcullis/internal/workload"
)

// verifyImageResult is the JSON document verify-image prints.
type verifyImageResult struct {
	// Image is the image as given.
	Image string `json:"image"`
	// Resource is the workload the image was admitted in, kind/namespace/name.
	Resource string `json:"resource"`
	// Admitted is false when a result denies the workload.
	Admitted bool `json:"admitted"`
	// Images are the workload's images after the mutating policies, when
	// they changed them (tags resolved to digests).
	Images []string `json:"images,omitempty"`
	// Results are the checks that applied, in evaluation order.
	Results  []verifyImageCheck `json:"results"`
	Warnings []string           `json:"warnings,omitempty"`
	// Incomplete says what was not evaluated when time ran out.
	Incomplete string `json:"incomplete,omitempty"`
}

// verifyImageCheck is one rule result.
type verifyImageCheck struct {
	Dialect string `json:"dialect"`
	Kind    string `json:"kind"`
	Policy  string `json:"policy"`
	Rule    string `json:"rule,omitempty"`
	Result  string `json:"result"`
	Action  string `json:"action,omitempty"`
	Message string `json:"message,omitempty"`
}

type verifyImageOptions struct {
	policies   []string
	trustRoots []string
	resource   string
	images     imageOptions
}

func newVerifyImageCommand(stdio IO) *cobra.Command {
	var o verifyImageOptions
	cmd := &cobra.Command{
		Use:   "verify-image IMAGE --policy FILE... [--trust-root FILE] [--resource FILE]",
		Short: "Check one image against image policies, as admission would",
		Long: `Check one image against Sigstore ClusterImagePolicies or Kyverno verifyImages
rules (and any other policies given), like policy-controller's policy-tester:
the image is put in a Pod (or, with --resource, in that workload, as its only
container) and admitted through the same engine as apply, in every namespace.
Tags are resolved to digests and the digest is what is verified.

What was checked goes to standard error, one line per rule; the JSON result
goes to standard output. TrustRoot documents may come with the policies or
with --trust-root; --trusted-root names a trusted_root.json for keyless
signatures. Nothing but the registries is contacted.

Exit codes: 0 when the image is admitted, 1 when it is not, 2 on bad input.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(fmt.Errorf("verify-image needs exactly one IMAGE, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerifyImage(cmd.Context(), stdio, args[0], o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.policies, "policy", "p", nil, "policy files or folders: ClusterImagePolicy, Kyverno policies with verifyImages, TrustRoot (repeatable)")
	cmd.Flags().StringArrayVar(&o.trustRoots, "trust-root", nil, "TrustRoot (policy.sigstore.dev) files (repeatable)")
	cmd.Flags().StringVarP(&o.resource, "resource", "r", "", "workload (Pod or pod controller) to run the image in, for policies that read it")
	o.images.addFlags(cmd)
	return cmd
}

func runVerifyImage(ctx context.Context, stdio IO, img string, o verifyImageOptions) error {
	if _, err := image.Parse(img); err != nil {
		return badInput(err)
	}
	if len(o.policies) == 0 {
		return badInput(errors.New("verify-image needs at least one --policy"))
	}
	eng, reg, err := o.images.engine(nil, engineOptions{includeAllNamespaces: true})
	if err != nil {
		return badInput(err)
	}
	objs, err := manifest.ReadAll(append(append([]string(nil), o.policies...), o.trustRoots...), stdio.In)
	if err != nil {
		return badInput(err)
	}
	if len(objs) == 0 {
		return badInput(errors.New("the --policy files hold no policies"))
	}
	docs := make([]engine.Document, 0, len(objs))
	for _, p := range objs {
		docs = append(docs, engine.Document{Source: p.Source, Object: p.Object})
	}
	set, errs := eng.Compile(docs)
	if len(errs) > 0 {
		return badInput(errs.ToAggregate())
	}
	obj, err := workloadFor(o.resource, img, stdio.In)
	if err != nil {
		return badInput(err)
	}
	req := requestFor(obj)
	// The check stands for admission, not for a background scan.
	req.Background = false
	res := set.Evaluate(ctx, req, engine.Cluster{Registry: reg})

	out := verifyImageResult{
		Image:      img,
		Resource:   resourceRef(obj),
		Admitted:   len(res.Denied()) == 0,
		Results:    []verifyImageCheck{},
		Warnings:   res.Warnings,
		Incomplete: res.Incomplete,
	}
	if res.Object != nil {
		out.Images = workloadImages(res.Object)
	}
	for _, rr := range res.Rules {
		out.Results = append(out.Results, verifyImageCheck{
			Dialect: rr.Policy.Dialect, Kind: rr.Policy.Kind, Policy: rr.Policy.Name, Rule: rr.Rule,
			Result: string(rr.Verdict), Action: string(rr.Action), Message: rr.Message,
		})
	}
	writeVerifyImageSummary(stdio.Err, out)
	enc := json.NewEncoder(stdio.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if !out.Admitted {
		return &exitError{code: ExitFailed}
	}
	return nil
}

// workloadFor returns the object the image is admitted in: a Pod in the
// default namespace with one container running img, or the workload in
// the file resource with img as the only container of its pod spec.
func workloadFor(resource, img string, stdin io.Reader) (map[string]any, error) {
	if resource == "" {
		return map[string]any{
			"apiVersion": "v1",
			"kind":       "Pod",
			"metadata":   map[string]any{"name": "verify-image", "namespace": "default"},
			"spec": map[string]any{
				"containers": []any{map[string]any{"name": "image", "image": img}},
			},
		}, nil
	}
	objs, err := manifest.ReadAll([]string{resource}, stdin)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("--resource %s: want one object, found %d", resource, len(objs))
	}
	obj := objs[0].Object
	manifest.DefaultNamespace(obj)
	spec := workload.PodSpec(obj)
	if spec == nil {
		return nil, fmt.Errorf("--resource %s: %s is not a Pod or a pod controller with a pod template", resource, objs[0].Describe())
	}
	container := map[string]any{"name": "image"}
	if list, _ := spec["containers"].([]any); len(list) > 0 {
		if first, ok := list[0].(map[string]any); ok {
			for k, v := range first {
				container[k] = v
			}
		}
	}
	container["image"] = img
	spec["containers"] = []any{container}
	delete(spec, "initContainers")
	delete(spec, "ephemeralContainers")
	return obj, nil
}

// workloadImages lists the images of a workload's containers.
func workloadImages(obj map[string]any) []string {
	spec := workload.PodSpec(obj)
	var out []string
	for _, f := range workload.ContainerFields() {
		list, _ := spec[f].([]any)
		for _, c := range list {
			if cm, ok := c.(map[string]any); ok {
				if img, ok := cm["image"].(string); ok {
					out = append(out, img)
				}
			}
		}
	}
	return out
}

func resourceRef(obj map[string]any) string {
	kind, _ := obj["kind"].(string)
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

// writeVerifyImageSummary writes what was checked, for people.
func writeVerifyImageSummary(w io.Writer, r verifyImageResult) {
	fmt.Fprintf(w, "image: %s (in %s)\n", r.Image, r.Resource)
	for _, img := range r.Images {
		fmt.Fprintf(w, "admitted as: %s\n", img)
	}
	if len(r.Results) == 0 {
		fmt.Fprintln(w, "no policy rule checked the image")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tRULE\tRESULT\tMESSAGE")
		for _, c := range r.Results {
			result := c.Result
			if c.Action != "" && c.Action != string(engine.ActionDeny) {
				result += " (" + c.Action + ")"
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\n", c.Kind, c.Policy, c.Rule, result, oneLine(c.Message))
		}
		tw.Flush()
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	if r.Incomplete != "" {
		fmt.Fprintf(w, "incomplete: %s\n", r.Incomplete)
	}
	if r.Admitted {
		fmt.Fprintln(w, "result: admitted")
	} else {
		fmt.Fprintln(w, "result: denied")
	}
}
