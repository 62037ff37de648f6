package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// A chash upstream through the real binary: the same hash_on value always reaches the same
// node, and different values spread over the nodes.
func TestCHashUpstream(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	a := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "a") })
	b := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "b") })
	put(t, n, "/routes/h", fmt.Sprintf(`{"uri":"/h","upstream":{"type":"chash","hash_on":"header","key":"X-User",`+
		`"nodes":{"%s":1,"%s":1}}}`, a.addr(), b.addr()))
	waitFor(t, n.proxyURL("/h"), func(st int, _ string) bool { return st == 200 })

	get := func(user string) string {
		req, _ := http.NewRequest("GET", n.proxyURL("/h"), nil)
		req.Header.Set("X-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf [8]byte
		m, _ := resp.Body.Read(buf[:])
		return string(buf[:m])
	}
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		user := "user" + strconv.Itoa(i)
		first := get(user)
		for j := 0; j < 3; j++ {
			if got := get(user); got != first {
				t.Fatalf("%s went to %s, then %s", user, first, got)
			}
		}
		seen[first] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("20 users all hashed to %v", seen)
	}
}
