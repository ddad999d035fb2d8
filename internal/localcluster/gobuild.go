package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goBuilder generates and builds the wrapper modules with the go command.
type goBuilder struct {
	goCommand string
}

// buildAPIServer builds kube-apiserver at version into out, replacing the
// staging modules with their releases at stagingVersion.
func (gb goBuilder) buildAPIServer(ctx context.Context, srcDir, out, version, stagingVersion string) error {
	gomod, err := gb.moduleGoMod(ctx, srcDir, "k8s.io/kubernetes", version)
	if err != nil {
		return err
	}
	parsed, err := parseKubernetesGoMod(gomod)
	if err != nil {
		return fmt.Errorf("failed to read the go.mod of k8s.io/kubernetes@%s: %w", version, err)
	}
	files, err := renderWrapper(apiserverComponent, wrapperData{
		Version:        version,
		GoVersion:      parsed.goVersion,
		StagingVersion: stagingVersion,
		Staging:        parsed.staging,
	})
	if err != nil {
		return err
	}
	return gb.build(ctx, srcDir, out, files, apiserverLDFlags(version))
}

// buildEtcd builds the etcd server at version into out.
func (gb goBuilder) buildEtcd(ctx context.Context, srcDir, out, version string) error {
	const module = "go.etcd.io/etcd/server/v3"
	gomod, err := gb.moduleGoMod(ctx, srcDir, module, version)
	if err != nil {
		return err
	}
	goVersion := goDirective(gomod)
	if goVersion == "" {
		return fmt.Errorf("failed to read the go.mod of %s@%s: no go directive", module, version)
	}
	files, err := renderWrapper(etcdComponent, wrapperData{Version: version, GoVersion: goVersion})
	if err != nil {
		return err
	}
	return gb.build(ctx, srcDir, out, files, "-s -w")
}

// moduleGoMod downloads module@version through the module proxy and returns
// its go.mod. It runs in srcDir, inside a placeholder module, so that it
// never touches a module the cache directory happens to be in.
func (gb goBuilder) moduleGoMod(ctx context.Context, srcDir, module, version string) (string, error) {
	placeholder := []byte("module portcullis.localcluster/placeholder\n")
	if err := os.WriteFile(filepath.Join(srcDir, "go.mod"), placeholder, 0o644); err != nil {
		return "", fmt.Errorf("failed to write a placeholder go.mod: %w", err)
	}
	var stdout, stderr bytes.Buffer
	runErr := gb.run(ctx, srcDir, &stdout, &stderr, "mod", "download", "-json", module+"@"+version)
	var info struct {
		GoMod string
		Error string
	}
	decodeErr := json.Unmarshal(stdout.Bytes(), &info)
	switch {
	case info.Error != "":
		return "", fmt.Errorf("failed to download %s@%s: %s", module, version, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("failed to download %s@%s: %w\n%s", module, version, runErr, strings.TrimSpace(stderr.String()))
	case decodeErr != nil:
		return "", fmt.Errorf("failed to decode `go mod download -json` output: %w", decodeErr)
	}
	data, err := os.ReadFile(info.GoMod)
	if err != nil {
		return "", fmt.Errorf("failed to read the go.mod of %s@%s: %w", module, version, err)
	}
	return string(data), nil
}

// build writes files into srcDir, resolves the module's dependencies and
// builds it into out.
func (gb goBuilder) build(ctx context.Context, srcDir, out string, files map[string][]byte, ldflags string) error {
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(srcDir, name), data, 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", name, err)
		}
	}
	logPath := filepath.Join(srcDir, "build.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("failed to create the build log: %w", err)
	}
	defer logFile.Close()
	if err := gb.run(ctx, srcDir, logFile, logFile, "mod", "tidy"); err != nil {
		return fmt.Errorf("go mod tidy: %w\n%s", err, logTail(logPath, 20))
	}
	if err := gb.run(ctx, srcDir, logFile, logFile, "build", "-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", out, "."); err != nil {
		return fmt.Errorf("go build: %w (log: %s)\n%s", err, logPath, logTail(logPath, 20))
	}
	return nil
}

// run runs the go command in dir with goEnv.
func (gb goBuilder) run(ctx context.Context, dir string, stdout, stderr io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, gb.goCommand, args...)
	cmd.Dir = dir
	cmd.Env = goEnv(os.Environ())
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// goEnv is the environment of the go command: the caller's, with module
// mode forced on, workspaces off (a go.work above the cache directory must
// not apply) and cgo off (the binaries need no C toolchain, as upstream's
// release builds). GOTOOLCHAIN and the proxy settings are kept as they are.
func goEnv(environ []string) []string {
	override := map[string]string{
		"GOFLAGS":     "-mod=mod",
		"GOWORK":      "off",
		"GO111MODULE": "on",
		"CGO_ENABLED": "0",
	}
	env := make([]string, 0, len(environ)+len(override))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := override[name]; !ok {
			env = append(env, kv)
		}
	}
	for _, name := range []string{"CGO_ENABLED", "GO111MODULE", "GOFLAGS", "GOWORK"} {
		env = append(env, name+"="+override[name])
	}
	return env
}

// goDirective returns the version in a go.mod's go directive, or "".
func goDirective(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		line, _, _ = strings.Cut(line, "//")
		if fields := strings.Fields(line); len(fields) == 2 && fields[0] == "go" {
			return fields[1]
		}
	}
	return ""
}
