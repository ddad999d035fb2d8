package kyverno

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/portcullis-dev/portcullis/internal/engine"
	"github.com/portcullis-dev/portcullis/internal/image"
	"github.com/portcullis-dev/portcullis/internal/image/signature"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/conditions"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/jmespath"
	"github.com/portcullis-dev/portcullis/internal/policy/kyverno/pattern"
)

// Image verification statuses, as Kyverno records them in its annotations.
const (
	ivPass = "pass"
	ivFail = "fail"
	ivSkip = "skip"
)

// memoImageVerification is the Memo key of the verification results that
// the policies of one mutating evaluation share, so that each policy
// writes the annotations of all of them, as Kyverno writes them once for
// every policy of a request.
const memoImageVerification = "kyverno.verifyImages"

// errNoRegistry is the error of image reads when the cluster has no
// registry client.
var errNoRegistry = errors.New("images cannot be read: no image registry is configured")

// extractor finds images in an object: the objects at fields ("*" for
// every element of a list or map), the image in their value field and the
// name in their key field (the JSON pointer when key is empty).
type extractor struct {
	fields   []string
	key      string
	value    string
	name     string
	jmesPath string
}

// standardExtractors returns Kyverno's extractors for the pod spec at path:
// init containers, containers and ephemeral containers.
func standardExtractors(path ...string) []extractor {
	var out []extractor
	for _, tag := range []string{"initContainers", "containers", "ephemeralContainers"} {
		fields := append(append([]string(nil), path...), tag, "*")
		out = append(out, extractor{fields: fields, key: "name", value: "image", name: tag})
	}
	return out
}

var (
	podExtractors        = standardExtractors("spec")
	controllerExtractors = standardExtractors("spec", "template", "spec")
	cronJobExtractors    = standardExtractors("spec", "jobTemplate", "spec", "template", "spec")
)

// registeredExtractors are Kyverno's built-in extractors by kind.
func registeredExtractors(kind string) []extractor {
	switch kind {
	case "Pod":
		return podExtractors
	case "DaemonSet", "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "Job":
		return controllerExtractors
	case "CronJob":
		return cronJobExtractors
	}
	return nil
}

// imageInfo is one image of an object, as Kyverno's ImageInfo describes it.
type imageInfo struct {
	registry, path, name, tag, digest string
	reference, referenceWithTag       string
	// pointer is the JSON pointer of the image's field in the object.
	pointer string
	// secrets are the imagePullSecrets found on the way to the image.
	secrets []string
}

// String renders the image as Kyverno matches and records it:
// registry/path@digest when it has a digest, else registry/path:tag.
func (i imageInfo) String() string {
	s := i.path
	if i.registry != "" {
		s = i.registry + "/" + i.path
	}
	if i.digest != "" {
		return s + "@" + i.digest
	}
	return s + ":" + i.tag
}

// doc is the image variable that attestation conditions can read.
func (i imageInfo) doc() map[string]any {
	return map[string]any{
		"reference":        i.reference,
		"referenceWithTag": i.referenceWithTag,
		"registry":         i.registry,
		"path":             i.path,
		"name":             i.name,
		"tag":              i.tag,
		"digest":           i.digest,
	}
}

// imageParser parses image references with the policy's cache of them.
type imageParser struct {
	jp    *jmespath.Interpreter
	cache *imageInfoCache
}

// imageInfoCache holds parsed image references (which never change) by
// their text. It is bounded: when full it is emptied.
type imageInfoCache struct {
	mu sync.Mutex
	m  map[string]imageInfo
}

const maxParsedImages = 4096

// imageParser returns the policy's image parser.
func (ec *evalContext) imageParser() imageParser {
	return imageParser{jp: ec.jp, cache: ec.p.imageInfos}
}

func (p imageParser) parse(s string) (imageInfo, error) {
	if p.cache == nil {
		return parseImageInfo(p.jp, s)
	}
	p.cache.mu.Lock()
	info, ok := p.cache.m[s]
	p.cache.mu.Unlock()
	if ok {
		return info, nil
	}
	info, err := parseImageInfo(p.jp, s)
	if err != nil {
		return info, err
	}
	p.cache.mu.Lock()
	if p.cache.m == nil || len(p.cache.m) >= maxParsedImages {
		p.cache.m = map[string]imageInfo{}
	}
	p.cache.m[s] = info
	p.cache.mu.Unlock()
	return info, nil
}

func parseImageInfo(jp *jmespath.Interpreter, s string) (imageInfo, error) {
	m, err := jp.ImageInfo(s)
	if err != nil {
		return imageInfo{}, err
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	return imageInfo{
		registry:         str("registry"),
		path:             str("path"),
		name:             str("name"),
		tag:              str("tag"),
		digest:           str("digest"),
		reference:        str("reference"),
		referenceWithTag: str("referenceWithTag"),
	}, nil
}

// extractImages returns the images of obj in Kyverno's order of
// extractors, using the rule's own extractors for obj's kind when it has
// them.
func extractImages(parse imageParser, obj map[string]any, custom map[string][]extractor) ([]imageInfo, error) {
	kind, _ := obj["kind"].(string)
	extractors := registeredExtractors(kind)
	if list, ok := custom[kind]; ok {
		extractors = list
		if len(list) == 0 {
			return nil, fmt.Errorf("no extractors found for %s", kind)
		}
	}
	var out []imageInfo
	for _, e := range extractors {
		found := &orderedImages{index: map[string]int{}}
		if err := e.extract(parse, obj, nil, nil, e.fields, found, 0); err != nil {
			return nil, err
		}
		out = append(out, found.list...)
	}
	return out, nil
}

// orderedImages keeps the images of one extractor by key: a later image
// with the same key replaces the earlier one, as in Kyverno's map.
type orderedImages struct {
	list  []imageInfo
	index map[string]int
}

func (o *orderedImages) add(key string, info imageInfo) {
	if i, ok := o.index[key]; ok {
		o.list[i] = info
		return
	}
	o.index[key] = len(o.list)
	o.list = append(o.list, info)
}

const maxExtractDepth = 64

func (e extractor) extract(parse imageParser, obj any, path []string, secrets []string, fields []string, out *orderedImages, depth int) error {
	if obj == nil {
		return nil
	}
	if depth > maxExtractDepth {
		return fmt.Errorf("invalid image config")
	}
	if len(fields) > 0 && fields[0] == "*" {
		switch t := obj.(type) {
		case []any:
			for i, v := range t {
				p := append(append([]string(nil), path...), strconv.Itoa(i))
				switch v.(type) {
				case map[string]any:
					if err := e.extract(parse, v, p, secrets, fields[1:], out, depth+1); err != nil {
						return err
					}
				case []any:
					if err := e.extract(parse, v, p, secrets, fields, out, depth+1); err != nil {
						return err
					}
				}
			}
			return nil
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				switch t[k].(type) {
				case map[string]any, []any:
					if err := e.extract(parse, t[k], append(append([]string(nil), path...), k), secrets, fields[1:], out, depth+1); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return fmt.Errorf("invalid image config")
	}
	for _, s := range asSlice(m["imagePullSecrets"]) {
		if sm, ok := s.(map[string]any); ok {
			if name, ok := sm["name"].(string); ok {
				secrets = append(append([]string(nil), secrets...), name)
			}
		}
	}
	if len(fields) == 0 {
		pointer := "/" + strings.Join(path, "/") + "/" + e.value
		key := pointer
		if e.key != "" {
			if key, ok = m[e.key].(string); !ok {
				return fmt.Errorf("invalid key")
			}
		}
		value, ok := m[e.value].(string)
		if !ok || strings.TrimSpace(value) == "" {
			return nil
		}
		if e.jmesPath != "" {
			r, err := parse.jp.Search(e.jmesPath, value)
			if err != nil {
				return fmt.Errorf("failed to apply jmespath %s: %v", e.jmesPath, err)
			}
			s, ok := r.(string)
			if !ok {
				return fmt.Errorf("jmespath %s must produce a string, but produced %v", e.jmesPath, r)
			}
			value = s
		}
		info, err := parse.parse(value)
		if err != nil {
			return fmt.Errorf("invalid image '%s' (%s)", value, err.Error())
		}
		info.pointer = pointer
		info.secrets = secrets
		out.add(key, info)
		return nil
	}
	return e.extract(parse, m[fields[0]], append(append([]string(nil), path...), fields[0]), secrets, fields[1:], out, depth+1)
}

// matchesAny reports whether image matches one of Kyverno's wildcard
// patterns. Kyverno matches the normalized form only (String), so
// "nginx:*" does not match docker.io/nginx:1.27.
func matchesAny(patterns []string, image string) bool {
	for _, p := range patterns {
		if pattern.Wildcard(p, image) {
			return true
		}
	}
	return false
}

// matching returns the images that the rule's entries select, once per
// entry that selects them, as Kyverno's GetMatchingImages does.
func (ir *imageRule) matching(images []imageInfo) []imageInfo {
	var out []imageInfo
	for _, img := range images {
		s := img.String()
		for _, c := range ir.checks {
			if matchesAny(c.references, s) {
				out = append(out, img)
			}
		}
	}
	return out
}

// verificationMetadata is what Kyverno records in its annotations: the
// status of each image, and of each image by policy and rule.
type verificationMetadata struct {
	data     map[string]string
	policies map[string]map[string]map[string]string
}

func (m *verificationMetadata) add(image, status string) {
	if m.data == nil {
		m.data = map[string]string{}
	}
	m.data[image] = status
}

func (m *verificationMetadata) addScoped(policyKey, rule, image, status string) {
	if m.policies == nil {
		m.policies = map[string]map[string]map[string]string{}
	}
	if m.policies[policyKey] == nil {
		m.policies[policyKey] = map[string]map[string]string{}
	}
	if m.policies[policyKey][rule] == nil {
		m.policies[policyKey][rule] = map[string]string{}
	}
	m.policies[policyKey][rule][image] = status
}

// scopedMetadata is the JSON of the kyverno.io/verify-images-scoped
// annotation.
type scopedMetadata struct {
	Version  int                                     `json:"version"`
	Policies map[string]map[string]map[string]string `json:"policies"`
}

// annotate returns obj with the annotations of m, copying what it changes.
func (m *verificationMetadata) annotate(obj map[string]any) (map[string]any, error) {
	data, err := json.Marshal(m.data)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal metadata value: %w", err)
	}
	obj = withPointer(obj, []string{"metadata", "annotations", annotationVerifyImages}, string(data))
	if m.policies != nil {
		scoped, err := json.Marshal(scopedMetadata{Version: 1, Policies: m.policies})
		if err != nil {
			return nil, fmt.Errorf("failed to marshal scoped metadata value: %w", err)
		}
		obj = withPointer(obj, []string{"metadata", "annotations", annotationVerifyImagesScoped}, string(scoped))
	}
	return obj, nil
}

// scopedStatus reads the status of image for a policy's rule from the
// object's kyverno.io/verify-images-scoped annotation: fail when it is not
// recorded.
func scopedStatus(obj map[string]any, policyKey, rule, image string) (string, error) {
	ann := stringMap(metaField(obj, "annotations"))
	raw, ok := ann[annotationVerifyImagesScoped]
	if !ok {
		return ivFail, nil
	}
	var scoped scopedMetadata
	if err := json.Unmarshal([]byte(raw), &scoped); err == nil && scoped.Version == 1 && scoped.Policies != nil {
		if s, ok := scoped.Policies[policyKey][rule][image]; ok {
			return s, nil
		}
		return ivFail, nil
	}
	var legacy map[string]string
	if err := json.Unmarshal([]byte(raw), &legacy); err != nil {
		return ivFail, fmt.Errorf("failed to parse scoped image metadata: %w", err)
	}
	return ivFail, nil
}

// withPointer returns obj with value set at path, copying the maps and
// lists along the path and sharing the rest. Missing maps are created.
func withPointer(obj map[string]any, path []string, value any) map[string]any {
	out, _ := setAt(obj, path, value).(map[string]any)
	return out
}

func setAt(node any, path []string, value any) any {
	if len(path) == 0 {
		return value
	}
	switch t := node.(type) {
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(t) {
			return node
		}
		c := append([]any(nil), t...)
		c[i] = setAt(t[i], path[1:], value)
		return c
	case map[string]any:
		c := make(map[string]any, len(t)+1)
		for k, v := range t {
			c[k] = v
		}
		c[path[0]] = setAt(t[path[0]], path[1:], value)
		return c
	default:
		return setAt(map[string]any{}, path, value)
	}
}

// pointerPath splits a JSON pointer into its unescaped tokens.
func pointerPath(p string) []string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}

// valueAt returns the value at a JSON pointer, and whether it exists.
func valueAt(obj any, p string) (any, bool) {
	cur := obj
	for _, tok := range pointerPath(p) {
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// sharedMetadata returns the verification metadata shared by the policies
// of this request.
func (ec *evalContext) sharedMetadata() *verificationMetadata {
	if ec.req.Memo == nil {
		if ec.ivm == nil {
			ec.ivm = &verificationMetadata{}
		}
		return ec.ivm
	}
	m, ok := ec.req.Memo[memoImageVerification].(*verificationMetadata)
	if !ok {
		m = &verificationMetadata{}
		ec.req.Memo[memoImageVerification] = m
	}
	return m
}

// policyKey is the key of the policy in the scoped annotation:
// namespace/name, with an empty namespace for a ClusterPolicy.
func (ec *evalContext) policyKey() string {
	return ec.p.ref.Namespace + "/" + ec.p.ref.Name
}

// verifyImages runs the verifyImages rules of the policy in the mutate
// phase: it verifies the images they select, pins verified tags to
// digests and records the results in Kyverno's annotations.
func (ec *evalContext) verifyImages(out *engine.Outcome) {
	if ec.req.Object == nil || ec.req.Background || ec.p.broken != "" {
		return
	}
	changed := false
	recorded := false
	for _, r := range ec.p.rules {
		if r.typ != ruleVerifyImages || r.images == nil || r.unsupported != "" {
			continue
		}
		if err := ec.ctx.Err(); err != nil {
			out.Rules = append(out.Rules, ec.result(r, engine.ImageVerify, engine.Error, "evaluation stopped: "+err.Error()))
			break
		}
		if !ec.matches(r) {
			continue
		}
		rv := &ruleVerification{ec: ec, r: r, resolved: map[string]resolution{}}
		rv.run()
		out.Rules = append(out.Rules, rv.results...)
		out.Warnings = append(out.Warnings, rv.warnings...)
		if rv.recorded {
			recorded = true
		}
		if rv.object != nil {
			ec.setObject(rv.object)
			changed = true
		}
		if ec.p.applyOne && rv.applied() {
			break
		}
	}
	if recorded {
		obj, err := ec.sharedMetadata().annotate(ec.object)
		if err == nil {
			ec.setObject(obj)
			changed = true
		}
	}
	if changed {
		out.Object = ec.object
	}
}

// resolution is the digest an image resolved to, or why it did not, and
// its parsed reference by that digest.
type resolution struct {
	digest string
	ref    image.Ref
	err    error
}

// ruleVerification is the state of one verifyImages rule in the mutate
// phase.
type ruleVerification struct {
	ec *evalContext
	r  *compiledRule
	// data is the rule's JSON context; attestations add their named
	// predicates to it.
	data     map[string]any
	pull     image.Pull
	results  []engine.RuleResult
	warnings []string
	// object is the patched object, nil while nothing was patched.
	object   map[string]any
	recorded bool
	// resolved memoizes the digest of each image by its reference, so a
	// tag is resolved once and what is verified is what is admitted.
	resolved map[string]resolution
	// auth are the authorities of the entry being checked.
	auth *authorities
}

func (rv *ruleVerification) add(v engine.Verdict, msg string) {
	rv.results = append(rv.results, rv.ec.result(rv.r, engine.ImageVerify, v, msg))
}

func (rv *ruleVerification) applied() bool {
	for _, r := range rv.results {
		if r.Verdict == engine.Pass || r.Verdict == engine.Fail {
			return true
		}
	}
	return false
}

func (rv *ruleVerification) record(image, status string) {
	ivm := rv.ec.sharedMetadata()
	ivm.add(image, status)
	ivm.addScoped(rv.ec.policyKey(), rv.r.name, image, status)
	rv.recorded = true
}

func (rv *ruleVerification) run() {
	ec, r := rv.ec, rv.r
	obj := ec.object
	images, err := extractImages(ec.imageParser(), obj, r.images.extractors)
	if err != nil {
		rv.add(engine.Error, "failed to instantiate handler: "+err.Error())
		return
	}
	matched := r.images.matching(images)
	if len(matched) == 0 {
		return
	}
	data, err := ec.ruleData(r, ec.baseData(), r.context)
	if err != nil {
		rv.add(engine.Error, "failed to load context: "+err.Error())
		return
	}
	if r.preconditions != nil {
		ok, msg, err := ec.checkConditions(r.preconditions, data)
		if err != nil {
			rv.add(engine.Error, "failed to evaluate preconditions: "+err.Error())
			return
		}
		if !ok {
			rv.add(engine.Skip, joinNonEmpty("preconditions not met", msg))
			return
		}
	}
	rv.data = data
	rv.pull = image.Pull{Namespace: metaString(obj, "namespace"), Secrets: matched[0].secrets}
	if rv.pull.Namespace == "" {
		rv.pull.Namespace = ec.req.Namespace
	}
	if ps := podSpecOf(obj); ps != nil {
		rv.pull.ServiceAccount, _ = ps["serviceAccountName"].(string)
	}
	current := obj
	for _, ic := range r.images.checks {
		auth, err := rv.authorities(ic)
		if err != nil {
			rv.results, rv.object = nil, nil
			rv.add(engine.Error, "failed to substitute variables: "+err.Error())
			return
		}
		rv.auth = auth
		for _, img := range matched {
			if err := ec.ctx.Err(); err != nil {
				rv.add(engine.Error, "evaluation stopped: "+err.Error())
				return
			}
			if patched := rv.verify(ic, auth, img, current); patched != nil {
				current = patched
				rv.object = patched
			}
		}
	}
}

// authorities returns the compiled authorities of an entry, substituting
// and compiling them for this request when they hold variables.
func (rv *ruleVerification) authorities(ic *imageCheck) (*authorities, error) {
	if ic.dynamic == nil {
		if ic.static == nil {
			return &authorities{}, nil
		}
		return ic.static, nil
	}
	v, err := ic.dynamic.Evaluate(rv.data)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	key := string(b)
	if a, ok := ic.dynCache.get(key); ok {
		return a, nil
	}
	var iv imageVerification
	if err := json.Unmarshal(b, &iv); err != nil {
		return nil, err
	}
	path := field.NewPath("verifyImages").Index(ic.index)
	if errs := validateAuthorities(iv, path); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	a, errs := rv.ec.p.dialect.compileAuthorities(iv, ic.bundle, path)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	ic.dynCache.put(key, a)
	return a, nil
}

// verify checks one image against one entry, as Kyverno's
// imageVerifier.Verify does, and returns the object with the image pinned
// to its digest, or nil.
func (rv *ruleVerification) verify(ic *imageCheck, auth *authorities, img imageInfo, obj map[string]any) map[string]any {
	ec := rv.ec
	imageStr := img.String()
	if rv.previouslyVerified(img, imageStr) {
		rv.record(imageStr, ivPass)
		return nil
	}
	var verdict engine.Verdict
	var msg string
	hasResult, skipped := false, false
	digest := ""
	if ic.hasAuthorities {
		verdict, msg, digest, skipped = rv.verifyImage(ic, auth, img)
		hasResult = true
	}
	var patched map[string]any
	if ic.mutateDigest && img.digest == "" {
		if digest == "" {
			res := rv.resolve(img, auth)
			digest = res.digest
			if res.err != nil {
				rv.add(engine.Error, "failed to update digest: "+res.err.Error())
			}
		}
		if digest != "" {
			path := pointerPath(img.pointer)
			if _, ok := valueAt(obj, img.pointer); ok {
				patched = withPointer(obj, path, img.String()+"@"+digest)
				if !hasResult {
					verdict, msg, hasResult = engine.Pass, "mutated image digest", true
				}
				img.digest = digest
				imageStr = img.String()
			}
		}
	}
	if hasResult {
		if ic.hasAuthorities {
			rv.record(imageStr, statusOf(verdict))
		}
		rv.add(verdict, msg)
		if skipped {
			// Kyverno emits skips by skipImageReferences as warnings.
			rv.warnings = append(rv.warnings, fmt.Sprintf("policy %s.%s: %s", ec.p.ref.Name, rv.r.name, msg))
		}
	}
	return patched
}

func statusOf(v engine.Verdict) string {
	switch v {
	case engine.Pass:
		return ivPass
	case engine.Skip, engine.Warn:
		return ivSkip
	}
	return ivFail
}

// previouslyVerified reports whether an UPDATE keeps an image that the old
// object records as verified (or skipped) by this rule.
func (rv *ruleVerification) previouslyVerified(img imageInfo, imageStr string) bool {
	old := rv.ec.req.OldObject
	if old == nil {
		return false
	}
	cur, ok := valueAt(rv.ec.object, img.pointer)
	if !ok || cur == nil {
		return false
	}
	prev, ok := valueAt(old, img.pointer)
	if !ok || prev == nil || jsonString(prev) != jsonString(cur) {
		return false
	}
	status, err := scopedStatus(old, rv.ec.policyKey(), rv.r.name, imageStr)
	return err == nil && (status == ivPass || status == ivSkip)
}

// verifyImage runs an entry's attestors and attestations on one image. It
// returns the verdict, Kyverno's message, the verified digest, and whether
// skipImageReferences skipped the image.
func (rv *ruleVerification) verifyImage(ic *imageCheck, auth *authorities, img imageInfo) (engine.Verdict, string, string, bool) {
	imageStr := img.String()
	rv.data = withValue(rv.data, []string{"image"}, img.doc())
	skipMsg := fmt.Sprintf("skipping image reference image %s, policy %s ruleName %s", imageStr, rv.ec.p.ref.Name, rv.r.name)
	if !matchesAny(ic.references, imageStr) {
		return engine.Skip, skipMsg, "", false
	}
	if matchesAny(ic.skip, imageStr) {
		rv.ec.sharedMetadata().add(imageStr, ivSkip)
		rv.recorded = true
		return engine.Skip, skipMsg, "", true
	}
	if len(auth.attestors) > 0 {
		v, msg, d := rv.verifyAttestors(auth, img)
		if v != engine.Pass {
			return v, msg, "", false
		}
		if img.digest == "" {
			img.digest = d
		}
		if len(auth.attestations) == 0 {
			return v, msg, d, false
		}
	}
	v, msg, d := rv.verifyAttestations(ic, auth, img)
	return v, msg, d, false
}

func (rv *ruleVerification) verifyAttestors(auth *authorities, img imageInfo) (engine.Verdict, string, string) {
	imageStr := img.String()
	for i, set := range auth.attestors {
		if err := rv.verifySet(set, img, fmt.Sprintf(".attestors[%d]", i)); err != nil {
			msg := fmt.Sprintf("failed to verify image %s: %s", imageStr, err.Error())
			if isRegistryError(err) {
				return engine.Error, msg, ""
			}
			return engine.Fail, msg, ""
		}
	}
	res := rv.resolve(img, auth)
	return engine.Pass, "verified image signatures for " + imageStr, res.digest
}

// verifySet verifies an attestor set: it holds when required of its
// entries verify. The error lists why the others did not, prefixed with
// their paths.
func (rv *ruleVerification) verifySet(set *attestorSetCheck, img imageInfo, path string) error {
	verified := 0
	var errs []error
	for i, e := range set.entries {
		p := fmt.Sprintf("%s.entries[%d]", path, i)
		var err error
		if e.nested != nil {
			err = rv.verifySet(e.nested, img, p+".attestor")
		} else if err = rv.verifySignatures(e, img); err != nil {
			err = fmt.Errorf("%s: %w", p+e.subPath, err)
		}
		if err == nil {
			verified++
			if verified >= set.required {
				return nil
			}
			continue
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("attestors verification failed")
	}
	return joinedError(errs)
}

// joinedError is a list of errors rendered as multierr does: joined by
// "; ". errors.Is and errors.As see every one of them.
type joinedError []error

func (e joinedError) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e joinedError) Unwrap() []error { return e }

// registryError marks an error reading the registry, or the Secret that
// holds a key (not a verdict about signatures): the rule errors and the
// failure policy decides.
type registryError struct{ err error }

func (e *registryError) Error() string { return e.err.Error() }
func (e *registryError) Unwrap() error { return e.err }

func isRegistryError(err error) bool {
	var re *registryError
	return errors.As(err, &re)
}

// classify marks errors other than "not found" as registry errors.
func classify(err error) error {
	if err == nil || errors.Is(err, image.ErrNotFound) {
		return err
	}
	var re *registryError
	if errors.As(err, &re) {
		return err
	}
	return &registryError{err: err}
}

// resolve returns the digest of an image: its own, or the one its tag
// resolves to, once per evaluation of the rule.
func (rv *ruleVerification) resolve(img imageInfo, auth *authorities) resolution {
	key := img.String()
	if r, ok := rv.resolved[key]; ok {
		return r
	}
	var res resolution
	ref, err := image.Parse(key)
	switch {
	case err != nil:
		res.err = err
	case img.digest != "":
		res.digest = img.digest
	case rv.ec.cluster.Registry == nil:
		res.err = &registryError{err: errNoRegistry}
	default:
		desc, err := rv.ec.cluster.Registry.Resolve(rv.ec.ctx, ref, rv.pullFor(auth))
		if err != nil {
			res.err = classify(err)
		} else {
			res.digest = desc.Digest.String()
		}
	}
	if res.err == nil {
		res.ref = ref.ByDigest(res.digest)
	}
	rv.resolved[key] = res
	return res
}

func (rv *ruleVerification) pullFor(auth *authorities) image.Pull {
	p := rv.pull
	if auth != nil && len(auth.secrets) > 0 {
		p.Secrets = append(append([]string(nil), p.Secrets...), auth.secrets...)
	}
	return p
}

// signatureRef returns the digest reference of the image, resolving its
// tag once. The verifier looks for signatures there, or in the attestor's
// repository.
func (rv *ruleVerification) signatureRef(img imageInfo, auth *authorities) (image.Ref, error) {
	res := rv.resolve(img, auth)
	return res.ref, res.err
}

// verifySignatures checks one attestor on one image: the verifier's trusted
// signatures, then Kyverno's identity and annotation checks.
func (rv *ruleVerification) verifySignatures(e *attestorCheck, img imageInfo) error {
	if e.verifier == nil && e.keys == nil {
		return errors.New("invalid attestor")
	}
	if rv.ec.cluster.Registry == nil {
		return &registryError{err: errNoRegistry}
	}
	auth := rv.auth
	ref, err := rv.signatureRef(img, auth)
	if err != nil {
		return err
	}
	v, err := e.verifierFor(rv.ec.ctx, rv.ec.cluster)
	if err != nil {
		return err
	}
	sigs, err := v.Signatures(rv.ec.ctx, rv.ec.cluster.Registry, ref, rv.pullFor(auth))
	if err != nil {
		return verificationMessage(err, e.bundle, false)
	}
	if len(sigs) == 0 {
		return verificationMessage(&signature.VerificationError{}, e.bundle, false)
	}
	if e.identity != nil {
		if err := e.identity.check(sigs); err != nil {
			return err
		}
	}
	return checkAnnotations(sigs, e.annotations)
}

// verificationMessage renders the verifier's error in the words of the
// cosign (or Sigstore bundle) verification Kyverno runs.
func verificationMessage(err error, bundle, attestations bool) error {
	var ve *signature.VerificationError
	if !errors.As(err, &ve) {
		return classify(err)
	}
	if bundle {
		return errors.New("sigstore bundle verification failed: no matching signatures found")
	}
	if attestations {
		return fmt.Errorf("no matching attestations: %s", strings.Join(ve.Reasons, "\n "))
	}
	if ve.Found == 0 {
		return errors.New("no signatures found")
	}
	return fmt.Errorf("no matching signatures: %s", strings.Join(ve.Reasons, "\n "))
}

// check applies Kyverno's keyless identity check: one signature must match.
func (m *identityMatch) check(sigs []signature.Signature) error {
	var errs []error
	for _, s := range sigs {
		err := m.matches(s)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("invalid signature")
	}
	return joinedError(errs)
}

func (m *identityMatch) matches(s signature.Signature) error {
	var sans []string
	if s.Certificate != nil {
		sans = cryptoutils.GetSubjectAlternateNames(s.Certificate)
	} else if s.Subject != "" {
		sans = []string{s.Subject}
	}
	if (m.subject != "" || m.subjectRE != nil) && len(sans) > 0 {
		ok := false
		for _, san := range sans {
			if (m.subject != "" && pattern.Wildcard(m.subject, san)) || (m.subjectRE != nil && m.subjectRE.MatchString(san)) {
				ok = true
				break
			}
		}
		if !ok {
			expected := m.subject
			if expected == "" {
				expected = m.subjectRaw
			}
			return fmt.Errorf("subject mismatch: expected %s, received %s", expected, strings.Join(sans, ", "))
		}
	}
	if m.issuer != "" && !pattern.Wildcard(m.issuer, s.Issuer) {
		return fmt.Errorf("issuer mismatch: expected %s, received %s", m.issuer, s.Issuer)
	}
	if m.issuerRE != nil && !m.issuerRE.MatchString(s.Issuer) {
		return fmt.Errorf("issuer mismatch: expected %s, received %s", m.issuerRaw, s.Issuer)
	}
	return nil
}

// checkAnnotations requires one signature whose payload has every
// annotation.
func checkAnnotations(sigs []signature.Signature, want map[string]string) error {
	if len(want) == 0 {
		return nil
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, s := range sigs {
		all := true
		for _, k := range keys {
			if got, ok := s.Annotations[k].(string); !ok || got != want[k] {
				all = false
				break
			}
		}
		if all {
			return nil
		}
	}
	return errors.New("no signature matched the required annotations")
}

// verifyAttestations checks an entry's attestations on one image, then the
// rule's validate blocks, as Kyverno's verifyAttestations does.
func (rv *ruleVerification) verifyAttestations(ic *imageCheck, auth *authorities, img imageInfo) (engine.Verdict, string, string) {
	for i, at := range auth.attestations {
		path := fmt.Sprintf(".attestations[%d]", i)
		if at.typ == "" {
			return engine.Fail, path + ": missing type", ""
		}
		var conds []*conditions.Block
		if i < len(ic.conditions) {
			conds = ic.conditions[i]
		}
		for j, set := range at.attestors {
			attestorPath := fmt.Sprintf("%s.attestors[%d]", path, j)
			verified := 0
			var errs []error
			for _, e := range set.entries {
				// Kyverno numbers the entries of attestations with the
				// attestation's index; messages keep its numbering.
				entryPath := fmt.Sprintf("%s.entries[%d]", attestorPath, i)
				statements, err := rv.fetchAttestations(e, at, img, auth)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if at.name != "" {
					predicate, err := firstPredicate(statements)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					rv.data = withValue(rv.data, []string{at.name}, predicate)
				}
				if img.digest == "" {
					img.digest = rv.resolve(img, auth).digest
				}
				if err := rv.verifyAttestation(statements, at, conds, img); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", entryPath+e.subPath, err))
					continue
				}
				verified++
				if verified >= set.required {
					break
				}
			}
			if verified < set.required {
				errMsg := "attestations verification failed"
				if len(errs) > 0 {
					errMsg = joinedError(errs).Error()
				}
				msg := fmt.Sprintf("image attestations verification failed, verifiedCount: %v, requiredCount: %v, error: %s", verified, set.required, errMsg)
				if isRegistryError(joinedError(errs)) {
					return engine.Error, msg, ""
				}
				return engine.Fail, msg, ""
			}
		}
	}
	if img.digest == "" {
		img.digest = rv.resolve(img, auth).digest
	}
	if rv.r.images.hasValidation {
		for _, c := range rv.r.images.checks {
			if err := rv.validateEntry(c); err != nil {
				return engine.Fail, fmt.Sprintf("validation in verifyImages failed: %v", err), img.digest
			}
		}
		return engine.Pass, fmt.Sprintf("verifyImages validation is passed in %v rule", rv.r.name), img.digest
	}
	return engine.Pass, "verified image attestations for " + img.String(), img.digest
}

// fetchAttestations returns the statements of the attestations an attestor
// trusts, each with Kyverno's "type" (its predicate type).
func (rv *ruleVerification) fetchAttestations(e *attestorCheck, at *attestationCheck, img imageInfo, auth *authorities) ([]map[string]any, error) {
	if e.verifier == nil && e.keys == nil {
		return nil, errors.New("invalid attestor")
	}
	if rv.ec.cluster.Registry == nil {
		return nil, &registryError{err: errNoRegistry}
	}
	ref, err := rv.signatureRef(img, auth)
	if err != nil {
		return nil, err
	}
	v, err := e.verifierFor(rv.ec.ctx, rv.ec.cluster)
	if err != nil {
		return nil, err
	}
	typ := ""
	if e.bundle {
		typ = at.typ
	}
	atts, err := v.Attestations(rv.ec.ctx, rv.ec.cluster.Registry, ref, typ, rv.pullFor(auth))
	if err != nil {
		return nil, verificationMessage(err, e.bundle, true)
	}
	if len(atts) == 0 {
		return nil, verificationMessage(&signature.VerificationError{}, e.bundle, true)
	}
	sigs := make([]signature.Signature, len(atts))
	for i, a := range atts {
		sigs[i] = a.Signature
		if e.identity != nil && a.PredicateType == at.typ {
			if err := e.identity.check([]signature.Signature{a.Signature}); err != nil {
				return nil, err
			}
		}
	}
	if err := checkAnnotations(sigs, e.annotations); err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(atts))
	for i, a := range atts {
		s := make(map[string]any, len(a.Statement)+1)
		for k, v := range a.Statement {
			s[k] = v
		}
		s["type"] = a.PredicateType
		out[i] = s
	}
	return out, nil
}

func firstPredicate(statements []map[string]any) (any, error) {
	for _, s := range statements {
		if p, ok := s["predicate"].(map[string]any); ok {
			return p, nil
		}
	}
	return nil, errors.New("predicate not found in any statement")
}

// verifyAttestation checks the conditions on every statement of the
// attestation's type.
func (rv *ruleVerification) verifyAttestation(statements []map[string]any, at *attestationCheck, conds []*conditions.Block, img imageInfo) error {
	found := false
	for _, s := range statements {
		if t, _ := s["type"].(string); t != at.typ {
			continue
		}
		found = true
		ok, msg, err := rv.checkStatement(conds, s)
		if err != nil {
			return fmt.Errorf("failed to check attestations: %w", err)
		}
		if !ok {
			return fmt.Errorf("attestation checks failed for %s and predicate %s: %s", img.String(), at.typ, msg)
		}
	}
	if !found {
		// Kyverno's spelling.
		return fmt.Errorf("attestions not found for predicate type %s", at.typ)
	}
	return nil
}

// checkStatement evaluates attestation conditions with the statement's
// predicate merged into the rule's context, as Kyverno does.
func (rv *ruleVerification) checkStatement(conds []*conditions.Block, s map[string]any) (bool, string, error) {
	if len(conds) == 0 {
		return true, "", nil
	}
	predicate, ok := s["predicate"].(map[string]any)
	if !ok {
		return false, "", fmt.Errorf("failed to extract predicate from statement: %v", s)
	}
	data := mergeJSON(rv.data, predicate)
	var passed []string
	for _, b := range conds {
		ok, msg, err := rv.ec.checkConditions(&condition{block: b}, data)
		if err != nil {
			return false, "", err
		}
		// Kyverno substitutes the attestation conditions whole, messages
		// included.
		if msg, err = rv.substitute(msg, data); err != nil {
			return false, "", fmt.Errorf("failed to substitute variables in attestation conditions: %w", err)
		}
		if !ok {
			return false, msg, nil
		}
		passed = append(passed, msg)
	}
	return true, joinNonEmptySep(passed, ";"), nil
}

// substitute substitutes the variables of a message.
func (rv *ruleVerification) substitute(msg string, data map[string]any) (string, error) {
	if !strings.Contains(msg, "{{") {
		return msg, nil
	}
	t, err := rv.ec.p.templates.get(msg, rv.ec)
	if err != nil || t == nil {
		return msg, err
	}
	v, err := t.Evaluate(data)
	if err != nil {
		return "", err
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return jsonString(v), nil
}

// mergeJSON merges patch into data as a JSON merge patch of objects does,
// copying what it changes.
func mergeJSON(data map[string]any, patch map[string]any) map[string]any {
	out := make(map[string]any, len(data)+len(patch))
	for k, v := range data {
		out[k] = v
	}
	for k, v := range patch {
		pm, pok := v.(map[string]any)
		dm, dok := out[k].(map[string]any)
		if pok && dok {
			out[k] = mergeJSON(dm, pm)
			continue
		}
		out[k] = v
	}
	return out
}

func joinNonEmptySep(parts []string, sep string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// validateEntry checks an entry's validate block against the rule's
// context, with the attestations' named predicates.
func (rv *ruleVerification) validateEntry(c *imageCheck) error {
	if c.validateDeny == nil {
		return nil
	}
	deny, msg, err := rv.ec.checkConditions(c.validateDeny, rv.data)
	if err != nil {
		return fmt.Errorf("failed to check deny conditions: %v", err)
	}
	if !deny {
		return nil
	}
	if c.validateRaw == "" && msg == "" {
		return errors.New("validation error: imageVerify  failed")
	}
	text := c.validateRaw
	if c.validateMessage != nil {
		v, err := c.validateMessage.Evaluate(rv.data)
		if err != nil {
			return errors.New(msg)
		}
		s, ok := v.(string)
		if !ok {
			return errors.New("the produced message didn't resolve to a string, check your policy definition.")
		}
		text = s
	}
	return errors.New(joinNonEmptySep([]string{text, msg}, "; "))
}

// validateImageRule is a verifyImages rule in the validate phase: it
// checks, from the annotations the mutate phase wrote, that the images the
// rule selects have digests (verifyDigest) and were verified (required).
func (ec *evalContext) validateImageRule(r *compiledRule) (engine.RuleResult, bool) {
	ir := r.images
	if ir == nil || ec.req.Background || ec.req.Operation == engine.Delete || ec.req.Object == nil || !ir.hasChecks {
		return engine.RuleResult{}, false
	}
	images, err := extractImages(ec.imageParser(), ec.object, ir.extractors)
	if err != nil {
		return ec.result(r, engine.ImageVerify, engine.Error, "failed to instantiate handler: "+err.Error()), true
	}
	if len(ir.matching(images)) == 0 {
		return engine.RuleResult{}, false
	}
	data, err := ec.ruleData(r, ec.baseData(), r.context)
	if err != nil {
		return ec.result(r, engine.ImageVerify, engine.Error, "failed to load context: "+err.Error()), true
	}
	if r.preconditions != nil {
		ok, msg, err := ec.checkConditions(r.preconditions, data)
		if err != nil {
			return ec.result(r, engine.ImageVerify, engine.Error, "failed to evaluate preconditions: "+err.Error()), true
		}
		if !ok {
			return ec.result(r, engine.ImageVerify, engine.Skip, joinNonEmpty("preconditions not met", msg)), true
		}
	}
	// Kyverno checks the images of its standard extractors here.
	all := images
	if ir.extractors != nil {
		if all, err = extractImages(ec.imageParser(), ec.object, nil); err != nil {
			return ec.result(r, engine.ImageVerify, engine.Error, "failed to instantiate handler: "+err.Error()), true
		}
	}
	var passed, skipped []string
	for _, c := range ir.checks {
		for _, img := range all {
			s := img.String()
			if !matchesAny(c.references, s) {
				continue
			}
			if c.verifyDigest && img.digest == "" {
				return ec.result(r, engine.ImageVerify, engine.Fail, "missing digest for "+s), true
			}
			if !c.required {
				continue
			}
			status, err := scopedStatus(ec.object, ec.policyKey(), r.name, s)
			if err != nil {
				return ec.result(r, engine.ImageVerify, engine.Fail, err.Error()), true
			}
			switch status {
			case ivFail:
				return ec.result(r, engine.ImageVerify, engine.Fail, "unverified image "+s), true
			case ivSkip:
				skipped = append(skipped, s)
			case ivPass:
				passed = append(passed, s)
			}
		}
	}
	if len(passed) > 0 || len(passed)+len(skipped) == 0 {
		if len(skipped) > 0 {
			return ec.result(r, engine.ImageVerify, engine.Pass, strings.Join(append([]string{"image verified, skipped images:"}, skipped...), " ")), true
		}
		return ec.result(r, engine.ImageVerify, engine.Pass, "image verified"), true
	}
	return ec.result(r, engine.ImageVerify, engine.Skip, strings.Join(append([]string{"image skipped, skipped images:"}, skipped...), " ")), true
}

// imageDocument reads an image for the imageRegistry context entry and
// returns Kyverno's document of it: image, resolvedImage, registry,
// repository, identifier, manifest, configData and manifestList (null for
// a single image). For an index, manifest and configData are those of its
// linux/amd64 image, as go-containerregistry picks by default.
func imageDocument(ctx context.Context, reg image.Registry, refString string, pull image.Pull) (map[string]any, error) {
	fail := func(err error) (map[string]any, error) {
		return nil, fmt.Errorf("failed to fetch image descriptor: %s, error: failed to fetch image descriptor: %s, error: %v", refString, refString, err)
	}
	if reg == nil {
		return fail(errNoRegistry)
	}
	ref, err := image.Parse(refString)
	if err != nil {
		return fail(err)
	}
	raw, desc, err := reg.Manifest(ctx, ref, pull)
	if err != nil {
		return fail(err)
	}
	var manifestList any
	manifest := raw
	if desc.MediaType.IsIndex() {
		if manifestList, err = fromJSON(raw); err != nil {
			return nil, fmt.Errorf("failed to decode image index for image reference: %s, error: %v", refString, err)
		}
		child, err := platformChild(raw, ref)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve image reference: %s, error: %v", refString, err)
		}
		if manifest, _, err = reg.Manifest(ctx, ref.ByDigest(child), pull); err != nil {
			return nil, fmt.Errorf("failed to resolve image reference: %s, error: %v", refString, err)
		}
	}
	manifestDoc, err := fromJSON(manifest)
	if err != nil {
		return nil, fmt.Errorf("failed to decode manifest for image reference: %s, error: %v", refString, err)
	}
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("failed to decode manifest for image reference: %s, error: %v", refString, err)
	}
	var configData any
	if m.Config.Digest != "" {
		h, err := v1.NewHash(m.Config.Digest)
		if err != nil {
			return nil, fmt.Errorf("failed to fetch config for image reference: %s, error: %v", refString, err)
		}
		cfg, err := reg.Blob(ctx, ref, h, pull)
		if err != nil {
			return nil, fmt.Errorf("failed to fetch config for image reference: %s, error: %v", refString, err)
		}
		if configData, err = fromJSON(cfg); err != nil {
			return nil, fmt.Errorf("failed to decode config for image reference: %s, error: %v", refString, err)
		}
	}
	identifier := ref.Tag
	if ref.Digest != "" {
		identifier = ref.Digest
		if ref.Tag != "" {
			identifier = ref.Tag + "@" + ref.Digest
		}
	}
	return map[string]any{
		"image":         refString,
		"resolvedImage": ref.Context() + "@" + desc.Digest.String(),
		"registry":      ref.Registry,
		"repository":    ref.Repository,
		"identifier":    identifier,
		"manifestList":  manifestList,
		"manifest":      manifestDoc,
		"configData":    configData,
	}, nil
}

// platformChild returns the digest of the linux/amd64 image of an index.
func platformChild(raw []byte, ref image.Ref) (string, error) {
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return "", err
	}
	for _, m := range idx.Manifests {
		if p := m.Platform; p != nil && p.OS == "linux" && p.Architecture == "amd64" {
			return m.Digest.String(), nil
		}
	}
	return "", fmt.Errorf("no child with platform linux/amd64 in index %s", ref)
}
