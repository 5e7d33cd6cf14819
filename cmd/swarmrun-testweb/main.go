// Command swarmrun-testweb is the server in the lab's test image
// (swarmrun/testweb:latest, FROM scratch). GET / answers the container's
// hostname and whether a secret is mounted, so tests can see where replicas
// run and that secrets arrive. With -healthcheck it probes the server and
// exits 0 or 1, which gives a shell-less image a CMD healthcheck.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := flag.String("addr", ":"+port, "listen address")
	health := flag.Bool("healthcheck", false, "probe http://127.0.0.1:PORT/ and exit 0 if it answers 200")
	secrets := flag.String("secrets", "/run/secrets", "directory of mounted secrets")
	flag.Parse()

	if *health {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://127.0.0.1:" + port + "/")
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "unhealthy:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		names := secretNames(*secrets)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"hostname": host,
			"node":     os.Getenv("NODE_NAME"),
			"secret":   len(names) > 0,
			"secrets":  names,
		})
	})
	fmt.Fprintln(os.Stderr, "swarmrun-testweb listening on", *addr)
	if err := http.ListenAndServe(*addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// secretNames lists the regular files under dir (names only: never contents).
func secretNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	names := []string{}
	for _, e := range ents {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.Mode().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}
