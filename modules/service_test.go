package modules

import (
	"strings"
	"testing"
)

func TestParseSvcState(t *testing.T) {
	s := parseSvcState("init=sysv\nexists=1\ntool=service\nrunning=1\n")
	if s != (svcState{init: "sysv", exists: true, running: true, tool: "service"}) {
		t.Fatalf("got %+v", s)
	}
	s = parseSvcState("init=systemd\nexists=1\nenabled=1\n")
	if s != (svcState{init: "systemd", exists: true, enabled: true}) {
		t.Fatalf("got %+v", s)
	}
}

func TestSvcCtl(t *testing.T) {
	if got := svcCtl(svcState{init: "systemd"}, "docker", "restart"); got != "systemctl restart docker" {
		t.Error(got)
	}
	if got := svcCtl(svcState{init: "sysv", tool: "service"}, "docker", "start"); got != "service docker start" {
		t.Error(got)
	}
	if got := svcCtl(svcState{init: "sysv"}, "docker", "stop"); got != "/etc/init.d/docker stop" {
		t.Error(got)
	}
	if w := svcWaitRunning(svcState{init: "sysv", tool: "service"}, "x", 3); !strings.Contains(w, "-ge 15 ]") {
		t.Error(w)
	}
}
