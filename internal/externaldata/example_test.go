package externaldata_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/externaldata"
)

func ExampleClient_SetProviders() {
	c, err := externaldata.New(externaldata.WithMaxConcurrency(8))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	errs := c.SetProviders([]map[string]any{{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
		"kind":       "Provider",
		"metadata":   map[string]any{"name": "registry"},
		"spec":       map[string]any{"url": "http://registry.svc/lookup", "timeout": int64(60)},
	}})
	for _, e := range errs {
		fmt.Println(e)
	}
	_, err = c.ExternalData(context.Background(), "registry", []string{"nginx:1.25"})
	fmt.Println(errors.Is(err, externaldata.ErrUnknownProvider), err)
	// Output:
	// Provider[registry].spec.url: Invalid value: "http://registry.svc/lookup": only the https scheme is supported
	// Provider[registry].spec.timeout: Invalid value: 60: must be at most 30 seconds
	// Provider[registry].spec.caBundle: Required value: the base64-encoded PEM certificates of the CAs that sign the provider's certificate
	// true external data provider is not configured: "registry"
}
