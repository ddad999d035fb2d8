// Package deps pins the modules the packages under construction use, so that
// parallel work does not edit go.mod concurrently. It is removed once every
// dependency is imported by real code.
package deps

import (
	_ "github.com/blang/semver/v4"
	_ "github.com/evanphx/json-patch/v5"
	_ "github.com/go-logr/logr"
	_ "github.com/google/cel-go/cel"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jmespath-community/go-jmespath"
	_ "github.com/open-policy-agent/opa/v1/rego"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "gomodules.xyz/jsonpatch/v2"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	_ "k8s.io/apimachinery/pkg/api/resource"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/apiserver/pkg/admission/plugin/cel"
	_ "k8s.io/apiserver/pkg/cel/library"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/pod-security-admission/policy"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/json"
	_ "sigs.k8s.io/yaml"
)
