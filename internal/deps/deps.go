// Package deps pins the modules the packages under construction use, so that
// parallel work does not edit go.mod concurrently. It is removed once every
// dependency is imported by real code.
package deps

import (
	_ "github.com/blang/semver/v4"
	_ "github.com/evanphx/json-patch/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jmespath-community/go-jmespath"
	_ "github.com/spf13/cobra"
	_ "gomodules.xyz/jsonpatch/v2"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/api/resource"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/pod-security-admission/policy"
	_ "sigs.k8s.io/json"
	_ "sigs.k8s.io/yaml"
)
