// Package crds holds the CustomResourceDefinitions portcullis serves, as the
// YAML files in this folder, so that `kubectl apply -f deploy/crds/` and the
// server (internal/crds) install the same definitions. kubectl reads only the
// .yaml files here.
package crds

import "embed"

// Files holds every *.yaml file of this folder.
//
//go:embed *.yaml
var Files embed.FS
