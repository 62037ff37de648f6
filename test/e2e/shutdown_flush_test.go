package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Log entries still buffered by a logger's batch processor are sent when the node stops
// (SIGTERM), not lost.
func TestLoggerBatchFlushedOnStop(t *testing.T) {
	var mu sync.Mutex
	var got []string
	collector := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	})
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	// batches wait 60 s of inactivity (or 1000 entries): only the stop can send this one
	put(t, n, "/routes/r1", fmt.Sprintf(`{"uri":"/logged","plugins":{"http-logger":{"uri":"http://%s/collect","inactive_timeout":60,"buffer_duration":60}},"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`,
		collector.addr(), origin.addr()))
	waitFor(t, n.proxyURL("/logged?marker=flush-me"), func(st int, b string) bool { return st == 200 })
	n.stop()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(got, "\n"), "flush-me") {
		t.Errorf("the buffered entry was not sent on stop; collector got %q\nlogs:\n%s", got, n.Logs())
	}
}
