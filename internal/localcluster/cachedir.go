package localcluster

import (
	"fmt"
	"path/filepath"
)

// cacheDir returns the cache directory: explicit if set, else
// $PORTCULLIS_CACHE_DIR, else $XDG_CACHE_HOME/portcullis, else
// ~/.cache/portcullis. Relative XDG_CACHE_HOME values are ignored, as the XDG
// base directory specification requires.
func cacheDir(explicit string, getenv func(string) string, homeDir func() (string, error)) (string, error) {
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	if dir := getenv(CacheDirEnv); dir != "" {
		return filepath.Abs(dir)
	}
	if dir := getenv("XDG_CACHE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "portcullis"), nil
	}
	home, err := homeDir()
	if err != nil {
		return "", fmt.Errorf("CacheDir: no default cache directory (set %s or XDG_CACHE_HOME): %w", CacheDirEnv, err)
	}
	return filepath.Join(home, ".cache", "portcullis"), nil
}

// binaryPath is where the binary of a component at a version is cached, for
// example <cache>/bin/kube-apiserver-v1.37.2.
func binaryPath(cache, component, version string) string {
	return filepath.Join(cache, "bin", component+"-"+version)
}

// sourceDir is where the wrapper module of a component at a version is
// generated, for example <cache>/src/kube-apiserver-v1.37.2.
func sourceDir(cache, component, version string) string {
	return filepath.Join(cache, "src", component+"-"+version)
}

// lockPath is the file that serialises builds of one binary across processes.
func lockPath(cache, component, version string) string {
	return filepath.Join(cache, "lock", component+"-"+version+".lock")
}
