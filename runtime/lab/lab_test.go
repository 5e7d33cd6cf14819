package lab

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestImageTar(t *testing.T) {
	data, err := imageTar([]byte("binary"), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || manifest[0].RepoTags[0] != TestImage || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest %+v", manifest)
	}
	var cfg struct {
		Config struct {
			Entrypoint  []string
			Healthcheck struct{ Test []string }
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.Entrypoint[0] != "/testweb" || strings.Join(cfg.Config.Healthcheck.Test, " ") != "CMD /testweb -healthcheck" {
		t.Fatalf("config %+v", cfg)
	}
	layer := files[manifest[0].Layers[0]]
	if layer == nil || len(cfg.RootFS.DiffIDs) != 1 || !strings.HasPrefix(cfg.RootFS.DiffIDs[0], "sha256:"+strings.TrimSuffix(manifest[0].Layers[0], "/layer.tar")) {
		t.Fatalf("layer %q, diff ids %v", manifest[0].Layers[0], cfg.RootFS.DiffIDs)
	}
	lr := tar.NewReader(bytes.NewReader(layer))
	h, err := lr.Next()
	if err != nil || h.Name != "testweb" || h.Mode&0o111 == 0 {
		t.Fatalf("layer entry %+v %v", h, err)
	}
}

func TestInventory(t *testing.T) {
	l := &Lab{Dir: "/x", Net: 4}
	for i := 1; i <= 3; i++ {
		l.Hosts = append(l.Hosts, Host{Name: hostName(i), Addr: hostAddr(4, i), Manager: i <= 2})
	}
	want := `# swarmrun lab 4 (/x), written by ` + "`swarmrun lab up`" + `
[managers]
h1 ansible_host=198.18.4.11 ansible_user=root ansible_ssh_private_key_file=/x/id_ed25519
h2 ansible_host=198.18.4.12 ansible_user=root ansible_ssh_private_key_file=/x/id_ed25519

[workers]
h3 ansible_host=198.18.4.13 ansible_user=root ansible_ssh_private_key_file=/x/id_ed25519

[all:vars]
ansible_ssh_common_args='-o UserKnownHostsFile=/x/known_hosts -o StrictHostKeyChecking=yes'
swarmrun_known_hosts_file=/x/known_hosts
`
	if got := l.inventory(); got != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", got, want)
	}
}

func TestNamesFitInterfaceLimit(t *testing.T) {
	for _, n := range []string{bridgeName(255), vethName(255, 240)} {
		if len(n) > 15 {
			t.Errorf("%q is longer than IFNAMSIZ-1", n)
		}
	}
}

func TestURIHosts(t *testing.T) {
	text := "# http://snapshot.debian.org/x\nURIs: http://deb.debian.org/debian\ndeb [arch=amd64] https://download.docker.com:443/linux/debian bookworm stable\n"
	if got := strings.Join(uriHosts(text), " "); got != "deb.debian.org download.docker.com" {
		t.Errorf("%q", got)
	}
}

func TestPatchDockerInit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "docker")
	orig := "start)\n\t\tulimit -n 1048576\n\t\tif [ \"$BASH\" ]; then\n\t\t\tulimit -u unlimited\n\t\telse\n\t\t\tulimit -p unlimited\n\t\tfi\n"
	os.WriteFile(p, []byte(orig), 0o755)
	if err := patchDockerInit(p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	s := string(b)
	for _, want := range []string{"\t\tulimit -n 1048576 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"", "\t\t\tulimit -p unlimited 2>/dev/null || true"} {
		if !strings.Contains(s, want) {
			t.Errorf("patched script lacks %q:\n%s", want, s)
		}
	}
	// Idempotent.
	patchDockerInit(p)
	if b2, _ := os.ReadFile(p); string(b2) != s {
		t.Errorf("second patch changed the script")
	}
}

func TestDownNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the iptables listing")
	}
	// Nothing there: success, and the directory is not created.
	dir := filepath.Join(t.TempDir(), "none")
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Down created %s", dir)
	}
}
