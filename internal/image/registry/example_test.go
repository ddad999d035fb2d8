package registry_test

import (
	"fmt"

	"github.com/portcullis-dev/portcullis/internal/image/registry"
)

// New reports every invalid option, each naming its field.
func ExampleNew() {
	_, err := registry.New(registry.Options{
		Insecure: []string{"registry.local:5000", "http://registry.local"},
		Timeout:  -1,
	})
	fmt.Println(err)
	// Output:
	// invalid registry client options: Options.Insecure[1]: "http://registry.local" is not a registry host[:port]
	// Options.Timeout: must not be negative, got -1
}
