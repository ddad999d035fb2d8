package conditions

import (
	"bytes"
	encjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	jmespath "github.com/jmespath-community/go-jmespath"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// TestConformanceCorpus runs the validate.deny rules (and their
// preconditions) of a Kyverno CLI test corpus, such as kyverno/policies,
// and compares the verdicts with the expected ones. Variables are resolved
// with standard JMESPath over request.object and request.operation=CREATE;
// rules using other variables, context entries, foreach or Kyverno-specific
// JMESPath functions are not checked. Set KYVERNO_CONFORMANCE_DIR to the
// corpus root to run it.
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
	checked, unresolved := 0, 0
	for _, tf := range tests {
		c, u := runCorpusTest(t, tf)
		checked += c
		unresolved += u
	}
	t.Logf("checked %d verdicts from %d test files (%d not checked: unsupported JMESPath)", checked, len(tests), unresolved)
}

type denyRule struct {
	kinds []string
	pre   any
	deny  any
}

func readDocs(path string) []map[string]any {
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

var supportedVars = regexp.MustCompile(`\{\{(?:\{[^{}]*\}|[^{}])*\}\}`)

func runCorpusTest(t *testing.T, tf string) (int, int) {
	dir := filepath.Dir(tf)
	docs := readDocs(tf)
	if len(docs) != 1 || docs[0]["variables"] != nil {
		return 0, 0
	}
	test := docs[0]
	rules := map[string]map[string]denyRule{}
	pols, _ := test["policies"].([]any)
	for _, p := range pols {
		for _, pol := range readDocs(filepath.Join(dir, str(p))) {
			rs, _ := get(pol, "spec", "rules").([]any)
			for _, r := range rs {
				rule, _ := r.(map[string]any)
				deny := get(rule, "validate", "deny", "conditions")
				if deny == nil || rule["context"] != nil || get(rule, "validate", "foreach") != nil {
					continue
				}
				raw, _ := encjson.Marshal([]any{deny, rule["preconditions"]})
				ok := true
				for _, v := range supportedVars.FindAllString(string(raw), -1) {
					if !strings.Contains(v, "request.object") && !strings.Contains(v, "request.operation") {
						ok = false
					}
				}
				if !ok {
					continue
				}
				dr := denyRule{pre: rule["preconditions"], deny: deny}
				for _, blk := range []string{"any", "all"} {
					list, _ := get(rule, "match", blk).([]any)
					for _, it := range list {
						ks, _ := get(it, "resources", "kinds").([]any)
						for _, k := range ks {
							dr.kinds = append(dr.kinds, str(k))
						}
					}
				}
				name := str(get(pol, "metadata", "name"))
				if rules[name] == nil {
					rules[name] = map[string]denyRule{}
				}
				rules[name][str(rule["name"])] = dr
			}
		}
	}
	if len(rules) == 0 {
		return 0, 0
	}
	var resources []map[string]any
	rl, _ := test["resources"].([]any)
	for _, r := range rl {
		resources = append(resources, readDocs(filepath.Join(dir, str(r)))...)
	}
	checked, unresolved := 0, 0
	results, _ := test["results"].([]any)
	for _, res := range results {
		rm, _ := res.(map[string]any)
		ruleName := strings.TrimPrefix(str(rm["rule"]), "autogen-cronjob-")
		ruleName = strings.TrimPrefix(ruleName, "autogen-")
		rule, ok := rules[str(rm["policy"])][ruleName]
		if !ok {
			continue
		}
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
			got, err := evalDenyRule(rule, obj, kind)
			if err != nil {
				unresolved++
				continue
			}
			checked++
			if want := str(rm["result"]); got != want {
				t.Errorf("%s: policy %s rule %s resource %s/%s: got %s, want %s", tf, rm["policy"], rm["rule"], kind, name, got, want)
			}
		}
	}
	return checked, unresolved
}

// evalDenyRule decides a deny rule: "skip" when preconditions fail, "fail"
// when the deny conditions hold, "pass" otherwise.
func evalDenyRule(rule denyRule, obj map[string]any, kind string) (string, error) {
	prefix := ""
	podOnly := len(rule.kinds) > 0
	for _, k := range rule.kinds {
		if k != "Pod" {
			podOnly = false
		}
	}
	if podOnly && kind != "Pod" {
		prefix = "spec.template."
		if kind == "CronJob" {
			prefix = "spec.jobTemplate.spec.template."
		}
	}
	data, _ := encjson.Marshal(map[string]any{"request": map[string]any{"object": obj, "operation": "CREATE"}})
	var ctx any
	if err := encjson.Unmarshal(data, &ctx); err != nil {
		return "", err
	}
	var failure error
	var subst func(v any) (any, error)
	subst = func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return v, nil
		}
		for round := 0; round < 10; round++ {
			vars := supportedVars.FindAllString(s, -1)
			if len(vars) == 0 {
				return s, nil
			}
			out := s
			for _, tmpl := range vars {
				expr := strings.TrimSpace(tmpl[2 : len(tmpl)-2])
				if prefix != "" {
					expr = strings.ReplaceAll(expr, "request.object.spec.", "request.object."+prefix+"spec.")
					expr = strings.ReplaceAll(expr, "request.object.metadata.", "request.object."+prefix+"metadata.")
				}
				r, err := jmespath.Search(expr, ctx)
				if err != nil {
					failure = err
					return "", nil
				}
				if r == nil {
					r = ""
				}
				if tmpl == s {
					return r, nil
				}
				rs, ok := r.(string)
				if !ok {
					b, _ := encjson.Marshal(r)
					rs = string(b)
				}
				out = strings.Replace(out, tmpl, rs, 1)
			}
			s = out
		}
		return s, nil
	}
	pre, errs := Compile(rule.pre, field.NewPath("preconditions"))
	if len(errs) > 0 {
		return "", errs.ToAggregate()
	}
	deny, errs := Compile(rule.deny, field.NewPath("conditions"))
	if len(errs) > 0 {
		return "", errs.ToAggregate()
	}
	ok, _, err := pre.Evaluate(subst)
	if err != nil || failure != nil {
		return "", fmt.Errorf("preconditions: %v %v", err, failure)
	}
	if !ok {
		return "skip", nil
	}
	denied, _, err := deny.Evaluate(subst)
	if err != nil || failure != nil {
		return "", fmt.Errorf("deny: %v %v", err, failure)
	}
	if denied {
		return "fail", nil
	}
	return "pass", nil
}
