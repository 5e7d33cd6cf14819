package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TestImage is the tiny image every docker host of the lab has loaded.
const TestImage = "swarmrun/testweb:latest"

const modulePath = "github.com/swarmrun/swarmrun"

// findModuleRoot looks for swarmrun's source (needed to build the test
// image's binary) from start upwards.
func findModuleRoot(start string) string {
	d := start
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+modulePath+"\n") {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			return ""
		}
		d = p
	}
}

// buildTestImage compiles cmd/swarmrun-testweb statically and writes a
// FROM-scratch image in `docker save` format to tarPath. We write the archive
// ourselves: there is no registry and no engine on the machine to build with.
func buildTestImage(ctx context.Context, src, tarPath string) error {
	if src == "" {
		wd, _ := os.Getwd()
		src = findModuleRoot(wd)
		if src == "" {
			if exe, err := os.Executable(); err == nil {
				src = findModuleRoot(filepath.Dir(exe))
			}
		}
	}
	if src == "" {
		return errors.New("swarmrun source not found (run from the repository or set SWARMRUN_SRC)")
	}
	bin := tarPath + ".bin"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/swarmrun-testweb")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build testweb: %w: %s", err, out)
	}
	defer os.Remove(bin)
	exe, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	data, err := imageTar(exe, time.Now().UTC())
	if err != nil {
		return err
	}
	tmp := tarPath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, tarPath)
}

// imageTar returns a docker-save archive: one layer holding /testweb, an
// image config with its entrypoint and healthcheck, and manifest.json.
func imageTar(exe []byte, created time.Time) ([]byte, error) {
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{Name: "testweb", Mode: 0o755, Size: int64(len(exe)), ModTime: created, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := lw.Write(exe); err != nil {
		return nil, err
	}
	// Secrets are mounted under /run/secrets; give it a parent to exist in.
	for _, d := range []string{"run/", "tmp/"} {
		if err := lw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: created, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	lsum := sha256.Sum256(layer.Bytes())
	diffID := "sha256:" + hex.EncodeToString(lsum[:])
	nano := func(d time.Duration) int64 { return int64(d) }
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created.Format(time.RFC3339Nano),
		"config": map[string]any{
			"Entrypoint":   []string{"/testweb"},
			"ExposedPorts": map[string]any{"8080/tcp": map[string]any{}},
			"Env":          []string{"PORT=8080"},
			// No shell in the image: the binary checks itself.
			"Healthcheck": map[string]any{
				"Test":        []string{"CMD", "/testweb", "-healthcheck"},
				"Interval":    nano(2 * time.Second),
				"Timeout":     nano(2 * time.Second),
				"StartPeriod": nano(1 * time.Second),
				"Retries":     3,
			},
			"Labels": map[string]string{"org.opencontainers.image.source": "https://" + modulePath},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]any{{"created": created.Format(time.RFC3339Nano), "created_by": "swarmrun lab"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	csum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(csum[:]) + ".json"
	layerName := hex.EncodeToString(lsum[:]) + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{
		"Config": cfgName, "RepoTags": []string{TestImage}, "Layers": []string{layerName},
	}})
	repos, _ := json.Marshal(map[string]any{"swarmrun/testweb": map[string]string{"latest": hex.EncodeToString(csum[:])}})

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: created, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: hex.EncodeToString(lsum[:]) + "/", Mode: 0o755, ModTime: created, Typeflag: tar.TypeDir}); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		n string
		d []byte
	}{{layerName, layer.Bytes()}, {cfgName, cfgJSON}, {"manifest.json", manifest}, {"repositories", repos}} {
		if err := put(f.n, f.d); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// dockerClient talks to a host's engine through its socket as seen from the
// machine via /proc/PID/root: no process spawn, no SSH.
func dockerClient(initPID int) *http.Client {
	sock := "/proc/" + strconv.Itoa(initPID) + "/root/run/docker.sock"
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
}

// dockerPing reports whether the host's engine answers.
func dockerPing(ctx context.Context, initPID int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://docker/_ping", nil)
	resp, err := dockerClient(initPID).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("_ping: %s", resp.Status)
	}
	return nil
}

// dockerLoad loads an image archive into a host's engine.
func dockerLoad(ctx context.Context, initPID int, tarPath string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://docker/images/load?quiet=1", f)
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := dockerClient(initPID).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("docker load: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
