package localcluster

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func noEnv(string) string { return "" }

func homeIs(dir string) func() (string, error) {
	return func() (string, error) { return dir, nil }
}

func TestResolveDefaults(t *testing.T) {
	cfg, err := Options{}.resolve(noEnv, homeIs("/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"cacheDir":          cfg.cacheDir,
		"workDir":           cfg.workDir,
		"kubernetesVersion": cfg.kubernetesVersion,
		"stagingVersion":    cfg.stagingVersion,
		"etcdVersion":       cfg.etcdVersion,
		"startTimeout":      cfg.startTimeout,
		"stopGracePeriod":   cfg.stopGracePeriod,
		"goCommand":         cfg.goCommand,
		"logIsDiscard":      cfg.log == io.Discard,
	}
	want := map[string]any{
		"cacheDir":          "/home/u/.cache/portcullis",
		"workDir":           "",
		"kubernetesVersion": "v1.37.2",
		"stagingVersion":    "v0.37.2",
		"etcdVersion":       "v3.6.16",
		"startTimeout":      90 * time.Second,
		"stopGracePeriod":   10 * time.Second,
		"goCommand":         "go",
		"logIsDiscard":      true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolve() mismatch (-want +got):\n%s", diff)
	}
}

func TestResolveStagingVersion(t *testing.T) {
	cfg, err := Options{KubernetesVersion: "v1.36.10", CacheDir: "/c"}.resolve(noEnv, homeIs("/h"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.stagingVersion != "v0.36.10" {
		t.Errorf("stagingVersion = %q, want v0.36.10", cfg.stagingVersion)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings, one per expected problem
	}{
		{
			name: "bad versions",
			opts: Options{KubernetesVersion: "1.37.2", EtcdVersion: "v3.6"},
			want: []string{`KubernetesVersion "1.37.2"`, `EtcdVersion "v3.6"`},
		},
		{
			name: "version with a path",
			opts: Options{KubernetesVersion: "v1.37.2/../../x"},
			want: []string{`KubernetesVersion "v1.37.2/../../x"`},
		},
		{
			name: "not kubernetes 1.x",
			opts: Options{KubernetesVersion: "v2.0.0"},
			want: []string{`KubernetesVersion "v2.0.0"`},
		},
		{
			name: "negative durations",
			opts: Options{StartTimeout: -time.Second, StopGracePeriod: -time.Second},
			want: []string{"StartTimeout -1s", "StopGracePeriod -1s"},
		},
		{
			name: "flags",
			opts: Options{APIServerFlags: []string{"--feature-gates=A=true", "v=2", "--", "--secure-port=1", "--etcd-servers"}},
			want: []string{
				`APIServerFlags[1]: "v=2": must start with "--"`,
				`APIServerFlags[2]: "--": must start with "--"`,
				`APIServerFlags[3]: "--secure-port=1": --secure-port is set by localcluster`,
				`APIServerFlags[4]: "--etcd-servers": --etcd-servers is set by localcluster`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.resolve(noEnv, homeIs("/h"))
			if err == nil {
				t.Fatal("resolve() succeeded, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid localcluster options: ") {
				t.Errorf("error %q lacks the context prefix", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if got, want := strings.Count(msg, "\n")+1, len(tt.want); got != want {
				t.Errorf("error reports %d problems, want %d:\n%s", got, want, msg)
			}
		})
	}
}

func TestResolveNoHome(t *testing.T) {
	_, err := Options{}.resolve(noEnv, func() (string, error) { return "", errors.New("no $HOME") })
	if err == nil || !strings.Contains(err.Error(), "CacheDir") {
		t.Errorf("resolve() error = %v, want a CacheDir error", err)
	}
}
