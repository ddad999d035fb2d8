package sigstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// maxPlatforms bounds the images of an index whose config files are read.
const maxPlatforms = 64

// configs reads the config files of an image for fetchConfigFile, keyed by
// platform ("linux/amd64", "linux/arm/v7", ...): one for an image, one per
// manifest for an index, as policy-controller does.
func (d *Dialect) configs(ctx context.Context, reg image.Registry, c *container, pull image.Pull) (map[string]*v1.ConfigFile, error) {
	if reg == nil {
		return nil, fmt.Errorf("failed to get ref %s : %w", c.display, errNoRegistry)
	}
	out := map[string]*v1.ConfigFile{}
	if err := configsOf(ctx, reg, c.ref.ByDigest(c.digest), c.display, pull, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func configsOf(ctx context.Context, reg image.Registry, ref image.Ref, display string, pull image.Pull, out map[string]*v1.ConfigFile, depth int) error {
	raw, desc, err := reg.Manifest(ctx, ref, pull)
	if err != nil {
		return fmt.Errorf("failed to get ref %s : %w", display, err)
	}
	mt := desc.MediaType
	if mt == "" {
		var probe struct {
			MediaType types.MediaType `json:"mediaType"`
		}
		if err := json.Unmarshal(raw, &probe); err == nil {
			mt = probe.MediaType
		}
	}
	switch mt {
	case types.OCIImageIndex, types.DockerManifestList:
		if depth > 0 {
			return fmt.Errorf("getting IndexManifest for %s : nested indexes are not supported", display)
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("getting IndexManifest for %s : %w", display, err)
		}
		if len(idx.Manifests) > maxPlatforms {
			return fmt.Errorf("getting IndexManifest for %s : %d manifests is more than %d", display, len(idx.Manifests), maxPlatforms)
		}
		for _, m := range idx.Manifests {
			child := ref.ByDigest(m.Digest.String())
			if err := configsOf(ctx, reg, child, child.String(), pull, out, depth+1); err != nil {
				return fmt.Errorf("failed to get a ConfigFile: [%w]", err)
			}
		}
		return nil
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("getting Image for %s: %w", display, err)
		}
		blob, err := reg.Blob(ctx, ref, m.Config.Digest, pull)
		if err != nil {
			return fmt.Errorf("getting ConfigFile for %s: %w", display, err)
		}
		cf, err := v1.ParseConfigFile(bytes.NewReader(blob))
		if err != nil {
			return fmt.Errorf("getting ConfigFile for %s: %w", display, err)
		}
		out[v1.Platform{Architecture: cf.Architecture, OS: cf.OS, OSVersion: cf.OSVersion, Variant: cf.Variant}.String()] = cf
		return nil
	}
	return fmt.Errorf("unknown mime type for %s: %v", display, mt)
}
