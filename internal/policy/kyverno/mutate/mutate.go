// Package mutate applies the patches of Kyverno mutate rules to unstructured
// resources: patchStrategicMerge overlays, with their "(key)", "<(key)" and
// "+(key)" anchors, and patchesJson6902 documents.
//
// Both functions reproduce what Kyverno does, including its quirks, because
// the engine must produce the same objects as Kyverno:
//
//   - A strategic merge first preprocesses the overlay against the resource
//     the way Kyverno's pkg/engine/mutate/patch/strategicPreprocessing.go
//     does: "+(key)" entries are kept only where the resource lacks key,
//     conditional anchors are checked and then stripped, and list elements
//     that carry anchors are expanded into one element per matching resource
//     element, keyed by that element's name. A failed condition replaces the
//     overlay with an empty one.
//   - The preprocessed overlay is then merged the way kustomize's kyaml
//     merge2 walker (which Kyverno calls) merges: maps recursively, lists by
//     the Kubernetes patch merge keys of known kinds (containers by name,
//     ports by containerPort and protocol, and so on), other lists replaced,
//     elements named in the overlay placed first, null deleting, and the
//     "$patch: delete|replace|merge" directives honoured. The merge also
//     drops null fields of the resource and collapses entries of merge-keyed
//     lists that share a key, as kyaml does.
//   - A JSON patch is applied like evanphx/json-patch with Kyverno's options:
//     negative indices, "remove" of a missing path is a no-op, and "add"
//     creates missing parents.
//
// A patch that changes nothing yields a *SkipError with Kyverno's message
// "no patches applied". Other errors carry Kyverno's text; Kyverno reports
// them as "failed to patch resource: <error>".
//
// Neither function modifies its inputs, and neither copies the whole
// resource: a result shares with the resource the maps and lists that the
// patch leaves alone (copy-on-write), and never shares anything with the
// patch. Callers must treat resources and results as immutable, as the
// engine does; code that changes an object in place must deep-copy it
// first.
package mutate
