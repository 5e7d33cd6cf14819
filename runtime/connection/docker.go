package connection

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/client"
)

// DockerSocket is where the Docker engine listens on a host.
const DockerSocket = "/var/run/docker.sock"

var dockerSocket = DockerSocket // tests point it elsewhere

// DockerClient returns a Docker Engine API client that reaches the host's
// engine through conn. Each HTTP connection is a stream-local channel to
// DockerSocket; if the login user may not open the socket and become is set,
// it is instead a small relay run with sudo (relayCmd) that joins the
// command's stdin and stdout to the socket. The targets need no docker CLI:
// Debian 13's docker.io does not ship one.
//
// The host is set with WithHost and the dialer with WithDialContext: a custom
// WithHTTPClient transport gets replaced and "docker" is then resolved by DNS.
func DockerClient(ctx context.Context, conn Conn, become bool) (*client.Client, error) {
	d := &engineDialer{conn: conn}
	if sd, ok := conn.(stdioDialer); ok && become && !sd.isRoot() {
		d.relay = sd
	}
	return client.NewClientWithOpts(
		client.WithHost("http://docker"),
		client.WithDialContext(d.dial),
		client.WithAPIVersionNegotiation(),
	)
}

// dockerClients is a connection's Docker Engine API clients, made on first
// use and kept until the connection closes: one per become setting, since
// only the become one may fall back to the sudo relay.
type dockerClients struct {
	mu      sync.Mutex
	clients [2]*client.Client // [0] without become, [1] with
}

func (d *dockerClients) get(ctx context.Context, conn Conn, become bool) (client.APIClient, error) {
	i := 0
	if become {
		i = 1
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.clients[i] == nil {
		c, err := DockerClient(ctx, conn, become)
		if err != nil {
			return nil, err
		}
		d.clients[i] = c
	}
	return d.clients[i], nil
}

func (d *dockerClients) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, c := range d.clients {
		if c != nil {
			c.Close()
			d.clients[i] = nil
		}
	}
}

// engineDialer opens one connection to the engine's socket. It decides per
// dial, not once: on a fresh host the socket appears only after Docker is
// installed, within the same run.
type engineDialer struct {
	conn     Conn
	relay    stdioDialer // nil: the direct path only
	useRelay atomic.Bool // the direct path failed once: the user is not in the docker group
}

func (d *engineDialer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if d.relay == nil || !d.useRelay.Load() {
		c, err := d.conn.DialUnix(ctx, dockerSocket)
		if err == nil || d.relay == nil {
			return c, err
		}
	}
	c, err := d.relay.dialStdio(ctx, relayCmd(dockerSocket), true)
	if err == nil {
		d.useRelay.Store(true)
	}
	return c, err
}

// relayCmd is the shell text of the sudo relay to a unix socket. It is Perl
// because perl-base is Essential on Debian and Ubuntu (always installed),
// unlike the docker CLI, socat or netcat. One process copies stdin to the
// socket and half-closes it at EOF; the other copies the socket to stdout.
func relayCmd(socket string) string {
	const script = `my $p=shift; my $s=IO::Socket::UNIX->new(Peer=>$p) or die "cannot connect to $p: $! (is Docker installed and running?)\n";
sub cp { my ($i,$o)=@_; while(1){ my $n=sysread($i,my $b,65536); return if !$n; my $w=0; while($w<$n){ my $k=syswrite($o,$b,$n-$w,$w); return if !defined $k; $w+=$k } } }
my $k=fork; die "fork: $!\n" if !defined $k;
if(!$k){ cp(\*STDIN,$s); shutdown($s,1); exit 0 }
cp($s,\*STDOUT); kill 9,$k; exit 0`
	return "perl -MIO::Socket::UNIX -e " + ShellQuote(script) + " " + ShellQuote(socket)
}

// stdioDialer is implemented by the connections in this package.
type stdioDialer interface {
	isRoot() bool
	dialStdio(ctx context.Context, cmd string, become bool) (net.Conn, error)
}
