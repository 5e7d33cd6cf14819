package lab

import (
	"fmt"
	"os"
)

// DefaultDir is where a lab lives unless --dir or $SWARMRUN_LAB_DIR says otherwise.
const DefaultDir = "/var/lib/swarmrun-lab"

// DirFromEnv returns $SWARMRUN_LAB_DIR or DefaultDir.
func DirFromEnv() string {
	if d := os.Getenv("SWARMRUN_LAB_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// Every name a lab creates outside its directory carries the network number K,
// so labs with different K can run side by side on one machine and `down` can
// find leftovers of a crashed lab from K alone. Interface names stay within the
// kernel's 15-character limit for K <= 255 and up to 999 hosts.

func bridgeName(k int) string      { return fmt.Sprintf("srbr%d", k) }
func vethName(k, i int) string     { return fmt.Sprintf("srv%d-%d", k, i) }
func netnsName(k, i int) string    { return fmt.Sprintf("srlab%d-h%d", k, i) }
func netnsPrefix(k int) string     { return fmt.Sprintf("srlab%d-h", k) }
func vethPrefix(k int) string      { return fmt.Sprintf("srv%d-", k) }
func chainName(k int) string       { return fmt.Sprintf("SRLAB%d", k) }
func ruleComment(k int) string     { return fmt.Sprintf("swarmrun-lab-%d", k) }
func cgroupParent(k, i int) string { return fmt.Sprintf("srlab%d-h%d", k, i) }
func hostName(i int) string        { return fmt.Sprintf("h%d", i) }
func hostAddr(k, i int) string     { return fmt.Sprintf("198.18.%d.%d", k, 10+i) }
func gatewayAddr(k int) string     { return fmt.Sprintf("198.18.%d.1", k) }
func subnet(k int) string          { return fmt.Sprintf("198.18.%d.0/24", k) }
