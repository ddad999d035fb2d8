package localcluster

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
)

// The wrapper modules' sources. They are named *.tmpl because go:embed
// cannot embed a file named go.mod, and so that the go command never treats
// them as part of this module.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

const (
	apiserverComponent = "kube-apiserver"
	etcdComponent      = "etcd"
)

// wrapperData fills a wrapper module's templates.
type wrapperData struct {
	// Version is the release to build: v1.37.2 for kube-apiserver, v3.6.16
	// for etcd.
	Version string
	// GoVersion is the go directive, taken from the wrapped module's go.mod.
	GoVersion string
	// StagingVersion is the release of the k8s.io staging modules, v0.37.2
	// for kube-apiserver v1.37.2. Unused for etcd.
	StagingVersion string
	// Staging lists the staging modules to replace. Unused for etcd.
	Staging []string
}

// renderWrapper returns the files of a component's wrapper module, by name
// ("go.mod", "main.go").
func renderWrapper(component string, data wrapperData) (map[string][]byte, error) {
	files := make(map[string][]byte, 2)
	for _, name := range []string{"go.mod", "main.go"} {
		tmplName := component + "." + name + ".tmpl"
		tmpl, err := template.New(tmplName).Option("missingkey=error").ParseFS(templateFS, "templates/"+tmplName)
		if err != nil {
			return nil, fmt.Errorf("failed to parse template %s: %w", tmplName, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("failed to render %s for %s: %w", name, component, err)
		}
		files[name] = buf.Bytes()
	}
	return files, nil
}

// apiserverLDFlags stamps the release into the binary, as Kubernetes' own
// build does, so /version and kubectl report it, and strips debug
// information to keep the binary small.
func apiserverLDFlags(version string) string {
	major, minor := "", ""
	if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) == 3 {
		major, minor = parts[0], parts[1]
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return strings.Join(flags, " ")
}
