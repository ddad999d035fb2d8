package pattern

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestConformanceCorpus runs the validate.pattern and validate.anyPattern
// rules of a Kyverno CLI test corpus (directories holding
// .kyverno-test/kyverno-test.yaml, as in kyverno/policies) and compares the
// verdicts with the expected ones. It only considers rules without
// variables, context or preconditions, whose verdict depends on the pattern
// alone, and that neither exclude nor select resources by labels. Set
// KYVERNO_CONFORMANCE_DIR to the corpus root to run it.
func TestConformanceCorpus(t *testing.T) {
	root := os.Getenv("KYVERNO_CONFORMANCE_DIR")
	if root == "" {
		t.Skip("KYVERNO_CONFORMANCE_DIR is not set")
	}
	var tests []string
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.Name() == "kyverno-test.yaml" && filepath.Base(filepath.Dir(path)) == ".kyverno-test" {
			tests = append(tests, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tests)
	checked := 0
	for _, tf := range tests {
		checked += runCorpusTest(t, tf)
	}
	t.Logf("checked %d verdicts from %d test files", checked, len(tests))
}

type corpusRule struct {
	kinds      []string
	pattern    any
	anyPattern []any
	message    string
}

func readDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var docs []map[string]any
	for _, part := range bytes.Split(data, []byte("\n---")) {
		var m map[string]any
		if err := yaml.Unmarshal(part, &m); err != nil || m == nil {
			continue
		}
		if items, ok := m["items"].([]any); ok && strings.HasSuffix(str(m["kind"]), "List") {
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					docs = append(docs, im)
				}
			}
			continue
		}
		docs = append(docs, m)
	}
	return docs
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func get(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func runCorpusTest(t *testing.T, tf string) int {
	dir := filepath.Dir(tf)
	docs := readDocs(t, tf)
	if len(docs) != 1 {
		return 0
	}
	test := docs[0]
	rules := map[string]map[string]corpusRule{}
	for _, p := range test["policies"].([]any) {
		for _, pol := range readDocs(t, filepath.Join(dir, str(p))) {
			name := str(get(pol, "metadata", "name"))
			rs, _ := get(pol, "spec", "rules").([]any)
			for _, r := range rs {
				rule, _ := r.(map[string]any)
				v, _ := rule["validate"].(map[string]any)
				if v == nil || rule["preconditions"] != nil || rule["context"] != nil {
					continue
				}
				cr := corpusRule{pattern: v["pattern"], message: str(v["message"])}
				cr.anyPattern, _ = v["anyPattern"].([]any)
				if cr.pattern == nil && cr.anyPattern == nil {
					continue
				}
				raw, _ := yaml.Marshal(v)
				if bytes.Contains(raw, []byte("{{")) {
					continue
				}
				// Selectors decide whether the rule applies, which is not
				// this package's business.
				if m, _ := yaml.Marshal(rule["match"]); bytes.Contains(m, []byte("elector")) || rule["exclude"] != nil {
					continue
				}
				for _, blk := range []string{"any", "all"} {
					list, _ := get(rule, "match", blk).([]any)
					for _, it := range list {
						ks, _ := get(it, "resources", "kinds").([]any)
						for _, k := range ks {
							cr.kinds = append(cr.kinds, str(k))
						}
					}
				}
				ks, _ := get(rule, "match", "resources", "kinds").([]any)
				for _, k := range ks {
					cr.kinds = append(cr.kinds, str(k))
				}
				if rules[name] == nil {
					rules[name] = map[string]corpusRule{}
				}
				rules[name][str(rule["name"])] = cr
			}
		}
	}
	if len(rules) == 0 {
		return 0
	}
	var resources []map[string]any
	rl, _ := test["resources"].([]any)
	for _, r := range rl {
		resources = append(resources, readDocs(t, filepath.Join(dir, str(r)))...)
	}
	checked := 0
	results, _ := test["results"].([]any)
	for _, res := range results {
		rm := res.(map[string]any)
		rule, ok := rules[str(rm["policy"])][str(rm["rule"])]
		if !ok {
			continue
		}
		want := str(rm["result"])
		kind := str(rm["kind"])
		names, _ := rm["resources"].([]any)
		if r := str(rm["resource"]); r != "" {
			names = append(names, r)
		}
		for _, n := range names {
			name := str(n)
			if i := strings.LastIndex(name, "/"); i >= 0 {
				name = name[i+1:]
			}
			var obj map[string]any
			for _, d := range resources {
				if str(d["kind"]) == kind && str(get(d, "metadata", "name")) == name {
					obj = d
					break
				}
			}
			if obj == nil {
				continue
			}
			wrapPat := func(p any) any { return autogen(p, kind, rule.kinds) }
			var got Response
			if rule.pattern != nil {
				got = Respond(str(rm["rule"]), rule.message, Validate(obj, wrapPat(rule.pattern)))
			} else {
				var pats []any
				for _, p := range rule.anyPattern {
					pats = append(pats, wrapPat(p))
				}
				got = RespondAny(str(rm["rule"]), rule.message, ValidateAny(obj, pats))
			}
			checked++
			if string(got.Status) != want {
				t.Errorf("%s: policy %s rule %s resource %s/%s: got %s (%s), want %s", tf, rm["policy"], rm["rule"], kind, name, got.Status, got.Message, want)
			}
		}
	}
	return checked
}

// autogen wraps a Pod pattern for a pod controller, as Kyverno's rule
// auto-generation does.
func autogen(p any, kind string, kinds []string) any {
	if kind == "Pod" {
		return p
	}
	podOnly := false
	for _, k := range kinds {
		if k == "Pod" {
			podOnly = true
		}
	}
	if !podOnly {
		return p
	}
	switch kind {
	case "CronJob":
		return map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": p}}}}
	case "Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet", "ReplicationController":
		return map[string]any{"spec": map[string]any{"template": p}}
	}
	return p
}
