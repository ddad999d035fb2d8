package localcluster

import (
	"path/filepath"
	"testing"
)

func TestCacheDir(t *testing.T) {
	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		want     string
	}{
		{name: "home", want: "/home/u/.cache/portcullis"},
		{name: "xdg", env: map[string]string{"XDG_CACHE_HOME": "/xdg"}, want: "/xdg/portcullis"},
		{name: "relative xdg is ignored", env: map[string]string{"XDG_CACHE_HOME": "xdg"}, want: "/home/u/.cache/portcullis"},
		{
			name: "env var beats xdg",
			env:  map[string]string{"XDG_CACHE_HOME": "/xdg", "PORTCULLIS_CACHE_DIR": "/pc"},
			want: "/pc",
		},
		{
			name:     "option beats env var",
			explicit: "/opt/cache",
			env:      map[string]string{"PORTCULLIS_CACHE_DIR": "/pc"},
			want:     "/opt/cache",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			got, err := cacheDir(tt.explicit, getenv, homeIs("/home/u"))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("cacheDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCacheDirRelativeIsMadeAbsolute(t *testing.T) {
	got, err := cacheDir("rel", noEnv, homeIs("/h"))
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got) || filepath.Base(got) != "rel" {
		t.Errorf("cacheDir(%q) = %q, want an absolute path ending in rel", "rel", got)
	}
}

func TestCachePaths(t *testing.T) {
	got := []string{
		binaryPath("/c", "kube-apiserver", "v1.37.2"),
		binaryPath("/c", "etcd", "v3.6.16"),
		sourceDir("/c", "kube-apiserver", "v1.37.2"),
		lockPath("/c", "etcd", "v3.6.16"),
	}
	want := []string{
		"/c/bin/kube-apiserver-v1.37.2",
		"/c/bin/etcd-v3.6.16",
		"/c/src/kube-apiserver-v1.37.2",
		"/c/lock/etcd-v3.6.16.lock",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("path %d = %q, want %q", i, got[i], want[i])
		}
	}
}
