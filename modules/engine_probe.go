package modules

import "fmt"

// engineProbe returns a shell condition that is true when the Docker engine
// at socket answers its API: with manager, when it also acts as a swarm
// manager (GET /info: "ControlAvailable":true). It needs no docker CLI
// (Debian 13's docker.io has none), only perl-base, which is Essential.
func engineProbe(socket string, manager bool) string {
	path, match := "/_ping", `$r=~/^HTTP\S* 200 /`
	if manager {
		path, match = "/info", `$r=~/^HTTP\S* 200 / && $r=~/"ControlAvailable":true/`
	}
	// The socket reaches perl as an argument, never as script text.
	script := fmt.Sprintf(`$s=IO::Socket::UNIX->new(Peer=>$ARGV[0]) or exit 1; print $s "GET %s HTTP/1.0\r\nHost: docker\r\n\r\n"; local $/; $r=<$s>; exit(defined $r && %s ? 0 : 1)`, path, match)
	return "{ perl -MIO::Socket::UNIX -e " + Quote(script) + " " + Quote(socket) + " 2>/dev/null; }"
}
