package modules

import (
	"testing"
)

func TestAptRepositorySources(t *testing.T) {
	got := aptRepoSources([]string{"deb"}, []string{"https://download.docker.com/linux/debian"}, []string{"bookworm"}, []string{"stable"}, []string{"amd64"}, "/etc/apt/keyrings/docker.asc")
	want := `# Managed by swarmrun (apt_repository module).
Types: deb
URIs: https://download.docker.com/linux/debian
Suites: bookworm
Components: stable
Architectures: amd64
Signed-By: /etc/apt/keyrings/docker.asc
`
	if got != want {
		t.Errorf("got\n%s", got)
	}
	if !aptRepoArmored([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF...")) || aptRepoArmored([]byte{0x99, 0x02, 0x0d, 0x04}) {
		t.Error("armored detection")
	}
	for _, n := range []string{"docker", "pgdg.repo", "my_repo-1"} {
		if !aptRepoNameRe.MatchString(n) {
			t.Errorf("%s should be valid", n)
		}
	}
	for _, n := range []string{"", "../x", "a b", ".hidden"} {
		if aptRepoNameRe.MatchString(n) {
			t.Errorf("%q should be invalid", n)
		}
	}
}
