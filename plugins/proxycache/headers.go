package proxycache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// complexValue is APISIX's generate_complex_value: items starting with `$` are variables
// (missing: ""), others literal, concatenated without a separator.
type complexValue struct{ parts []cvPart }

type cvPart struct {
	lit   string
	v     plugin.Var
	isVar bool
}

func compileComplex(items []string) complexValue {
	cv := complexValue{parts: make([]cvPart, 0, len(items))}
	for _, it := range items {
		if strings.HasPrefix(it, "$") {
			cv.parts = append(cv.parts, cvPart{v: plugin.ParseVar(it[1:]), isVar: true})
		} else {
			cv.parts = append(cv.parts, cvPart{lit: it})
		}
	}
	return cv
}

func (cv *complexValue) append(b []byte, vars plugin.Vars) []byte {
	for i := range cv.parts {
		pt := &cv.parts[i]
		if !pt.isVar {
			b = append(b, pt.lit...)
		} else if v, ok := vars.Lookup(&pt.v); ok {
			b = append(b, v...)
		}
	}
	return b
}

// truthy is cache_bypass's and no_cache's test: configured, non-empty and not "0".
func (cv *complexValue) truthy(vars plugin.Vars) bool {
	if len(cv.parts) == 0 {
		return false
	}
	var arr [64]byte
	v := cv.append(arr[:0], vars)
	return len(v) > 0 && string(v) != "0"
}

// cacheControl holds the Cache-Control directives the plugin reads; numbers are -1 when absent.
type cacheControl struct {
	noStore, noCache, private, onlyIfCached bool
	maxAge, sMaxAge, maxStale, minFresh     int64
}

func parseCacheControl(v []byte) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1}
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		name, val, _ := bytes.Cut(item, []byte{'='})
		name = bytes.TrimSpace(name)
		val = bytes.Trim(bytes.TrimSpace(val), `"`)
		num := func() int64 {
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil || n < 0 {
				return -1
			}
			return n
		}
		switch {
		case equalFoldB(name, "no-store"):
			cc.noStore = true
		case equalFoldB(name, "no-cache"):
			cc.noCache = true
		case equalFoldB(name, "private"):
			cc.private = true
		case equalFoldB(name, "only-if-cached"):
			cc.onlyIfCached = true
		case equalFoldB(name, "max-age"):
			cc.maxAge = num()
		case equalFoldB(name, "s-maxage"):
			cc.sMaxAge = num()
		case equalFoldB(name, "max-stale"):
			cc.maxStale = num()
		case equalFoldB(name, "min-fresh"):
			cc.minFresh = num()
		}
	}
	return cc
}

// stale applies a request's max-age / max-stale / min-fresh to an entry (memory strategy with
// cache_control), as APISIX's memory handler does.
func (cc *cacheControl) stale(e *entry, now time.Time) bool {
	age := int64(now.Sub(time.Unix(0, e.stored)) / time.Second)
	ttl := int64(e.ttl / time.Second)
	return cc.maxAge >= 0 && age > cc.maxAge ||
		cc.maxStale >= 0 && age-ttl > cc.maxStale ||
		cc.minFresh >= 0 && ttl-age < cc.minFresh
}

// resourceTTL is the freshness the upstream gave: s-maxage, else max-age, else Expires − now.
// ok is false when it gave none.
func resourceTTL(c plugin.Ctx, cc cacheControl, now time.Time) (time.Duration, bool) {
	if cc.sMaxAge >= 0 {
		return time.Duration(cc.sMaxAge) * time.Second, true
	}
	if cc.maxAge >= 0 {
		return time.Duration(cc.maxAge) * time.Second, true
	}
	if v, ok := c.RespHeader("Expires"); ok {
		t, err := http.ParseTime(string(v))
		if err != nil {
			return 0, true // an invalid Expires means already expired (RFC 9111 5.3)
		}
		return t.Sub(now), true
	}
	return 0, false
}

// parseVary returns the Vary header names, lower-case and sorted; star for `Vary: *`.
func parseVary(v []byte) (names []string, star bool) {
	for _, f := range bytes.Split(v, []byte{','}) {
		f = bytes.TrimSpace(f)
		if len(f) == 0 {
			continue
		}
		if string(f) == "*" {
			return nil, true
		}
		names = append(names, strings.ToLower(string(f)))
	}
	slices.Sort(names)
	return slices.Compact(names), false
}

// respHeaderVisitor is implemented by a Ctx that can list the response headers. The SDK's Ctx
// has no such method yet; without it, captureHeaders stores the headers in storedHeaders.
type respHeaderVisitor interface {
	VisitRespHeaders(fn func(name, value []byte))
}

// storedHeaders are the response headers kept when the Ctx cannot list them all.
var storedHeaders = []string{
	"Content-Type", "Content-Encoding", "Content-Language", "Content-Disposition", "Content-Range",
	"Cache-Control", "Expires", "Last-Modified", "ETag", "Vary", "Location", "Link",
	"Accept-Ranges", "Content-Security-Policy", "X-Content-Type-Options",
}

// skipHeader: not replayed from the cache (hop-by-hop, framing, the gateway's own, and rate
// limit counters, as APISIX's memory handler skips).
func skipHeader(name string) bool {
	switch strings.ToLower(name) {
	case "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
		"transfer-encoding", "upgrade", "content-length", "apisix-cache-status", "date", "server", "age":
		return true
	}
	return strings.Contains(strings.ToLower(name), "ratelimit-remaining")
}

func captureHeaders(c plugin.Ctx) []header {
	var hs []header
	if v, ok := c.(respHeaderVisitor); ok {
		v.VisitRespHeaders(func(name, value []byte) {
			if !skipHeader(string(name)) {
				hs = append(hs, header{name: string(name), value: string(value)})
			}
		})
	} else {
		for _, n := range storedHeaders {
			if v, ok := c.RespHeader(n); ok {
				hs = append(hs, header{name: n, value: string(v)})
			}
		}
	}
	markRepeats(hs)
	return hs
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func equalFoldB(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
