package connection

import (
	"context"
	"net"

	"github.com/docker/docker/client"
)

// DockerSocket is where the Docker engine listens on a host.
const DockerSocket = "/var/run/docker.sock"

var dockerSocket = DockerSocket // tests point it elsewhere

// DockerClient returns a Docker Engine API client that reaches the host's
// engine through conn. Each HTTP connection is a stream-local channel to
// DockerSocket; if the login user may not open the socket and become is set,
// each is instead a `sudo docker system dial-stdio` session.
//
// The host is set with WithHost and the dialer with WithDialContext: a custom
// WithHTTPClient transport gets replaced and "docker" is then resolved by DNS.
func DockerClient(ctx context.Context, conn Conn, become bool) (*client.Client, error) {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return conn.DialUnix(ctx, dockerSocket)
	}
	if sd, ok := conn.(stdioDialer); ok && become && !sd.isRoot() {
		// One probe decides; failure to open the socket here is nearly
		// always permission (the user is not in the docker group).
		if c, err := conn.DialUnix(ctx, dockerSocket); err == nil {
			c.Close()
		} else {
			dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
				return sd.dialStdio(ctx, "docker system dial-stdio", true)
			}
		}
	}
	return client.NewClientWithOpts(
		client.WithHost("http://docker"),
		client.WithDialContext(dial),
		client.WithAPIVersionNegotiation(),
	)
}

// stdioDialer is implemented by the connections in this package.
type stdioDialer interface {
	isRoot() bool
	dialStdio(ctx context.Context, cmd string, become bool) (net.Conn, error)
}
