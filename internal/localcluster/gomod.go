package localcluster

import (
	"fmt"
	"slices"
	"strings"
)

// kubernetesGoMod is what the wrapper module needs from the go.mod of
// k8s.io/kubernetes.
type kubernetesGoMod struct {
	// goVersion is the go directive, such as "1.26.0".
	goVersion string
	// staging lists, sorted, the modules that go.mod replaces with a local
	// directory (./staging/src/k8s.io/...): the proxy cannot resolve them
	// from k8s.io/kubernetes, so the wrapper replaces each with its published
	// release.
	staging []string
}

// parseKubernetesGoMod reads the go directive and the local-path replace
// directives of a go.mod file. It understands both the one-line form
// ("replace a => ./a") and the block form ("replace ( ... )"), with or
// without a version on the left.
func parseKubernetesGoMod(data string) (kubernetesGoMod, error) {
	mod := kubernetesGoMod{goVersion: goDirective(data)}
	inReplace := false
	inOtherBlock := false
	for i, line := range strings.Split(data, "\n") {
		line, _, _ = strings.Cut(line, "//")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch {
		case inReplace || inOtherBlock:
			if fields[0] == ")" {
				inReplace, inOtherBlock = false, false
				continue
			}
			if inOtherBlock {
				continue
			}
		case fields[0] == "replace" && len(fields) == 2 && fields[1] == "(":
			inReplace = true
			continue
		case fields[0] == "replace":
			fields = fields[1:]
		case len(fields) == 2 && fields[1] == "(":
			inOtherBlock = true
			continue
		default:
			continue
		}
		// fields is now one replacement: old [version] => new [version].
		arrow := slices.Index(fields, "=>")
		if arrow < 1 || arrow > 2 || arrow == len(fields)-1 {
			return kubernetesGoMod{}, fmt.Errorf("go.mod line %d: malformed replace directive %q", i+1, strings.TrimSpace(line))
		}
		if target := fields[arrow+1]; isLocalPath(target) && !slices.Contains(mod.staging, fields[0]) {
			mod.staging = append(mod.staging, fields[0])
		}
	}
	if inReplace || inOtherBlock {
		return kubernetesGoMod{}, fmt.Errorf("go.mod: unterminated block")
	}
	if mod.goVersion == "" {
		return kubernetesGoMod{}, fmt.Errorf("go.mod: no go directive")
	}
	if len(mod.staging) == 0 {
		return kubernetesGoMod{}, fmt.Errorf("go.mod: no replace directive with a local path; is this k8s.io/kubernetes?")
	}
	slices.Sort(mod.staging)
	return mod, nil
}

// isLocalPath reports whether a replacement target is a directory rather than
// a module path, by go.mod's rule: it starts with ./, ../ or /.
func isLocalPath(target string) bool {
	return strings.HasPrefix(target, "./") || strings.HasPrefix(target, "../") || strings.HasPrefix(target, "/")
}
