package modules

import (
	"errors"
	"strings"
	"testing"
	"time"
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

func TestSvcScript(t *testing.T) {
	tg := genTarget(t)
	r, err := genRun(t, tg, false, "shell", map[string]any{"cmd": svcScript([]string{"echo one", "echo two >&2; exit 4", "echo three"})})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 4 || r.Outputs["stdout"] != "`echo two >&2` exited 4:\ntwo" {
		t.Fatalf("%+v %v", r, err)
	}
	// A step that leaves a background process holding its stdout must not
	// hold up the script.
	t0 := time.Now()
	if _, err := genRun(t, tg, false, "shell", map[string]any{"cmd": svcScript([]string{"sleep 30 &"})}); err != nil || time.Since(t0) > 15*time.Second {
		t.Fatalf("%v after %s", err, time.Since(t0))
	}
}
