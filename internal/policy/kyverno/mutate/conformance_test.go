package mutate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// corpusDir holds Kyverno policies with kyverno CLI tests.
const corpusDir = "../../../../../shared/conformance/kyverno"

// corpusHooks stand in for the parts of Kyverno this package does not do:
// preconditions, context variables and foreach lists.
type corpusHooks struct {
	// applies evaluates a rule's preconditions; nil means they pass.
	applies func(rule string, res map[string]any) bool
	// context returns the rule's context variables.
	context func(rule string, res map[string]any) map[string]any
	// list returns the elements of a foreach.
	list func(rule string, res map[string]any) []any
	// eval evaluates a JMESPath expression that is not a plain path.
	eval func(expr string, vars map[string]any) any
}

func containersList(key string) func(string, map[string]any) []any {
	return func(_ string, res map[string]any) []any {
		l, _ := field(res, "spec", key).([]any)
		return l
	}
}

var corpusCases = map[string]corpusHooks{
	"psa/add-psa-labels": {},
	"psp-migration/add-apparmor": {
		list: func(_ string, res map[string]any) []any {
			spec, _ := res["spec"].(map[string]any)
			var out []any
			for _, k := range []string{"ephemeralContainers", "initContainers", "containers"} {
				l, _ := spec[k].([]any)
				out = append(out, l...)
			}
			return out
		},
	},
	"external-secret-operator/add-external-secret-prefix": {
		list: func(_ string, res map[string]any) []any {
			spec, _ := res["spec"].(map[string]any)
			l, _ := spec["data"].([]any)
			return l
		},
	},
	"velero/backup-all-volumes": {
		context: func(_ string, res map[string]any) map[string]any {
			var names []string
			for _, v := range volumesOf(res) {
				if m, _ := v.(map[string]any); m["persistentVolumeClaim"] != nil {
					names = append(names, fmt.Sprint(m["name"]))
				}
			}
			return map[string]any{"volumes": strings.Join(names, ",")}
		},
	},
	"kubecost/enable-kubecost-continuous-rightsizing": {},
	"other/add-imagepullsecrets":                      {},
	"other/add-node-affinity":                         {},
	"other/replace-image-registry": {
		applies: func(rule string, res map[string]any) bool {
			l, _ := field(res, "spec", "initContainers").([]any)
			return rule != "replace-image-registry-pod-initcontainers" || len(l) >= 1
		},
		list: func(rule string, res map[string]any) []any {
			if strings.HasSuffix(rule, "initcontainers") {
				return containersList("initContainers")(rule, res)
			}
			return containersList("containers")(rule, res)
		},
		eval: func(expr string, _ map[string]any) any {
			// regex_replace_all('<re>', '<image>', 'myregistry.corp.com/$2')
			m := regexp.MustCompile(`^regex_replace_all\('(.*)', '(.*)', '(.*)' ?\)$`).FindStringSubmatch(expr)
			re := strings.ReplaceAll(m[1], `\\`, `\`)
			return regexp.MustCompile(re).ReplaceAllString(m[2], strings.ReplaceAll(m[3], "$2", "${2}"))
		},
	},
	"other/dns-policy-and-dns-config": {
		eval: func(expr string, _ map[string]any) any {
			switch expr {
			case "dictionary.data.ClusterConfiguration | parse_yaml(@).clusterName":
				return "mycluster"
			case "request.namespace":
				return "default"
			}
			panic("unknown expression " + expr)
		},
	},
	"other/add-image-as-env-var": {
		list: func(_ string, res map[string]any) []any {
			spec, _ := res["spec"].(map[string]any)
			l, _ := spec["containers"].([]any)
			return l
		},
	},
	"other/add-labels":                  {},
	"other/add-env-vars-from-cm":        {},
	"other/spread-pods-across-topology": {},
	"other/add-tolerations": {
		applies: func(_ string, res map[string]any) bool {
			spec, _ := res["spec"].(map[string]any)
			l, _ := spec["tolerations"].([]any)
			for _, t := range l {
				if m, _ := t.(map[string]any); m["key"] == "org.com/role" {
					return false
				}
			}
			return true
		},
	},
	"other/add-pod-proxies":                      {},
	"other/disable-automountserviceaccounttoken": {},
	"other/inject-sidecar-deployment":            {},
	"other/apply-pss-restricted-profile":         {},
	"other/always-pull-images":                   {},
	"other/mitigate-log4shell":                   {},
	"other/add-default-securitycontext":          {},
	"other/add-ndots":                            {},
	"other/add-ttl-jobs": {
		applies: func(_ string, res map[string]any) bool {
			md, _ := res["metadata"].(map[string]any)
			l, _ := md["ownerReferences"].([]any)
			return len(l) == 0
		},
	},
	"kasten/kasten-minimum-retention": {
		applies: func(_ string, res map[string]any) bool {
			spec, _ := res["spec"].(map[string]any)
			return spec["frequency"] == "@hourly"
		},
	},
	"other/add-imagepullsecrets-for-containers-and-initcontainers": {
		applies: func(_ string, res map[string]any) bool {
			spec, _ := res["spec"].(map[string]any)
			for _, k := range []string{"initContainers", "containers"} {
				l, _ := spec[k].([]any)
				for _, c := range l {
					if m, _ := c.(map[string]any); strings.HasPrefix(fmt.Sprint(m["image"]), "corp.reg.com/") {
						return true
					}
				}
			}
			return false
		},
	},
}

func volumesOf(res map[string]any) []any {
	spec, _ := res["spec"].(map[string]any)
	if t, ok := spec["template"].(map[string]any); ok {
		spec, _ = t["spec"].(map[string]any)
	}
	l, _ := spec["volumes"].([]any)
	return l
}

func readDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		out = append(out, objYAML(t, doc))
	}
	return out
}

func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, _ := cur.(map[string]any)
		cur = mm[p]
	}
	return cur
}

var variable = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// substitute replaces {{ path }} in the strings and keys of v.
func substitute(t *testing.T, v any, lookup func(string) any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[substitute(t, k, lookup).(string)] = substitute(t, e, lookup)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = substitute(t, e, lookup)
		}
		return out
	case string:
		for variable.MatchString(x) {
			if m := variable.FindStringSubmatch(x); m[0] == x {
				return lookup(m[1])
			}
			x = variable.ReplaceAllStringFunc(x, func(s string) string {
				return fmt.Sprint(lookup(variable.FindStringSubmatch(s)[1]))
			})
		}
		return x
	}
	return v
}

var plainPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

func lookupIn(hooks corpusHooks, vars map[string]any) func(string) any {
	return func(expr string) any {
		parts := strings.Split(expr, ".")
		cur, ok := vars[parts[0]]
		if !ok || !plainPath.MatchString(expr) {
			if hooks.eval != nil {
				return hooks.eval(expr, vars)
			}
			panic("unknown variable " + expr)
		}
		for _, p := range parts[1:] {
			m, _ := cur.(map[string]any)
			cur = m[p]
		}
		return cur
	}
}

// autogen moves a Pod rule's overlay under the pod template, as Kyverno's
// autogen does for the "autogen-" rules of pod controllers.
func autogen(overlay any) any {
	return map[string]any{"spec": map[string]any{"template": overlay}}
}

// applyRule applies one mutate rule and returns the new resource and whether
// it changed it.
func applyRule(t *testing.T, hooks corpusHooks, name string, mutate map[string]any, res map[string]any, vars map[string]any) (map[string]any, bool) {
	t.Helper()
	apply := func(m map[string]any, vars map[string]any) (map[string]any, error) {
		m = substitute(t, m, lookupIn(hooks, vars)).(map[string]any)
		if p, ok := m["patchStrategicMerge"]; ok {
			if strings.HasPrefix(name, "autogen-") {
				p = autogen(p)
			}
			return StrategicMerge(res, p)
		}
		return JSON6902(res, m["patchesJson6902"].(string))
	}
	outcome := func(got map[string]any, err error) (map[string]any, bool) {
		var skip *SkipError
		if errors.As(err, &skip) {
			return res, false
		}
		if err != nil {
			t.Fatalf("rule %s: %v", name, err)
		}
		return got, true
	}
	fe, ok := mutate["foreach"].([]any)
	if !ok {
		return outcome(apply(mutate, vars))
	}
	changed := false
	for _, f := range fe {
		f := f.(map[string]any)
		list := hooks.list(name, res)
		order := make([]int, len(list))
		for i := range order {
			order[i] = i
		}
		if _, smp := f["patchStrategicMerge"]; smp && f["order"] != "Ascending" || f["order"] == "Descending" {
			for i := range order {
				order[i] = len(list) - 1 - i
			}
		}
		for _, i := range order {
			ev := map[string]any{"element": list[i], "elementIndex": int64(i)}
			for k, v := range vars {
				ev[k] = v
			}
			var c bool
			res, c = outcome(apply(f, ev))
			changed = changed || c
		}
	}
	return res, changed
}

func TestConformanceCorpus(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("no conformance corpus: %v", err)
	}
	for dir, hooks := range corpusCases {
		t.Run(dir, func(t *testing.T) {
			base := filepath.Join(corpusDir, dir, ".kyverno-test")
			test := readDocs(t, filepath.Join(base, "kyverno-test.yaml"))[0]
			var policy map[string]any
			for _, p := range test["policies"].([]any) {
				policy = readDocs(t, filepath.Join(base, p.(string)))[0]
			}
			resources := map[string]map[string]any{}
			for _, f := range test["resources"].([]any) {
				for _, r := range readDocs(t, filepath.Join(base, f.(string))) {
					resources[fmt.Sprint(field(r, "metadata", "name"))] = r
				}
			}
			rules := field(policy, "spec", "rules").([]any)

			// Apply the whole policy to each resource, as the CLI does.
			type outcome struct {
				res     map[string]any
				changed map[string]bool
			}
			outcomes := map[string]outcome{}
			for name, r := range resources {
				o := outcome{res: r, changed: map[string]bool{}}
				kind := fmt.Sprint(r["kind"])
				for _, rule := range rules {
					rule := rule.(map[string]any)
					mutate, ok := rule["mutate"].(map[string]any)
					if !ok {
						continue
					}
					rn := fmt.Sprint(rule["name"])
					if kind != "Pod" && rn == "backup-velero-pv" {
						rn = "autogen-" + rn
					}
					if !matchesKind(rule, kind) && !strings.HasPrefix(rn, "autogen-") {
						continue
					}
					if hooks.applies != nil && !hooks.applies(rn, o.res) {
						continue
					}
					vars := map[string]any{}
					if hooks.context != nil {
						vars = hooks.context(rn, o.res)
					}
					var c bool
					o.res, c = applyRule(t, hooks, rn, mutate, o.res, vars)
					o.changed[rn] = c
				}
				outcomes[name] = o
			}

			for i, result := range test["results"].([]any) {
				result := result.(map[string]any)
				for _, rname := range result["resources"].([]any) {
					name := fmt.Sprint(rname)
					if i := strings.LastIndex(name, "/"); i >= 0 {
						name = name[i+1:]
					}
					o, ok := outcomes[name]
					if !ok {
						t.Fatalf("result %d: no resource %s", i, name)
					}
					rule := fmt.Sprint(result["rule"])
					switch result["result"] {
					case "pass":
						if !o.changed[rule] {
							t.Errorf("%s, rule %s: skipped, want pass", name, rule)
						}
					case "skip":
						if o.changed[rule] {
							t.Errorf("%s, rule %s: patched, want skip", name, rule)
						}
					default:
						continue
					}
					pf, ok := result["patchedResources"].(string)
					if !ok {
						continue
					}
					var want map[string]any
					for _, d := range readDocs(t, filepath.Join(base, pf)) {
						if field(d, "metadata", "name") == name {
							want = d
						}
					}
					if want == nil {
						t.Fatalf("%s: no patched resource in %s", name, pf)
					}
					// The CLI puts resources without a namespace in "default".
					if field(o.res, "metadata", "namespace") == nil {
						delete(want["metadata"].(map[string]any), "namespace")
					}
					if diff := cmp.Diff(want, o.res); diff != "" {
						t.Errorf("%s after the policy (-want +got):\n%s", name, diff)
					}
				}
			}
		})
	}
}

func matchesKind(rule map[string]any, kind string) bool {
	for _, anyAll := range []string{"any", "all"} {
		filters, _ := field(rule, "match", anyAll).([]any)
		for _, f := range filters {
			kinds, _ := field(f.(map[string]any), "resources", "kinds").([]any)
			for _, k := range kinds {
				ks := fmt.Sprint(k)
				if ks == kind || strings.HasSuffix(ks, "/"+kind) {
					return true
				}
			}
		}
	}
	return false
}
