package proxy

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/upstream"
)

// BenchmarkReqCtxCycle is a pooled request context's acquire and release with nothing to
// close: the fixed cost every request pays for its context.
func BenchmarkReqCtxCycle(b *testing.B) {
	s := &Server{}
	b.ReportAllocs()
	for b.Loop() {
		rc := acquireReqCtx(s)
		rc.query = rc.uriBuf
		releaseReqCtx(rc)
	}
}

func parsedHeader(b *testing.B, raw string) *fasthttp.RequestHeader {
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		b.Fatal(err)
	}
	return &h
}

const browserHead = "GET /api/v1/items?page=2&sort=name%20asc HTTP/1.1\r\nHost: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
	"Accept: application/json, text/plain, */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
	"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop\r\nX-Request-Id: 3f2a9c1e-1111-2222-3333-444455556666\r\n" +
	"Cookie: session=abc123; theme=dark\r\nConnection: keep-alive\r\n\r\n"

// BenchmarkCheckRequest is the strict edge check on the bench client's request and on a
// browser-like one with ten fields.
func BenchmarkCheckRequest(b *testing.B) {
	for _, c := range []struct{ name, raw string }{
		{"bench", "GET /bench/x HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: fasthttp\r\n\r\n"},
		{"browser", browserHead},
	} {
		h := parsedHeader(b, c.raw)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if checkRequest(h) != 0 {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TestEdgeTablesMatchRules checks the word-at-a-time and table-driven edge scans against
// the byte rules they replace, for every byte value at every position of a word and its tail.
func TestEdgeTablesMatchRules(t *testing.T) {
	refValue := func(v []byte) int {
		for i, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return i
			}
		}
		return len(v)
	}
	refHost := func(h []byte) bool {
		if len(h) > 0 && h[0] == '.' {
			return false
		}
		for _, c := range h {
			if c <= ' ' || c == 0x7f || c == '/' || c == '\\' || c == '"' || c == '\'' {
				return false
			}
		}
		return true
	}
	refTarget := func(t []byte) int {
		for i := 0; i < len(t); i++ {
			c := t[i]
			switch {
			case c <= ' ' || c == 0x7f || c == '#':
				return fasthttp.StatusBadRequest
			case c == '%':
				if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
					return fasthttp.StatusBadRequest
				}
			}
		}
		return 0
	}
	for n := 1; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				v := []byte(strings.Repeat("a", n))
				v[pos] = byte(c)
				if got, want := ctlIndex(v), refValue(v); got != want {
					t.Fatalf("ctlIndex(%q) = %v, want %v", v, got, want)
				}
				// a high byte next to the tested one must not hide it (borrows)
				if pos+1 < n {
					v[pos+1] = 0xff
					if got, want := ctlIndex(v), refValue(v); got != want {
						t.Fatalf("ctlIndex(%q) = %v, want %v", v, got, want)
					}
				}
				h := []byte(strings.Repeat("h", n))
				h[pos] = byte(c)
				if got, want := validHost(h), refHost(h); got != want {
					t.Fatalf("validHost(%q) = %v, want %v", h, got, want)
				}
				p := append([]byte("/"), h...)
				if got, want := checkTarget(p), refTarget(p); got != want {
					t.Fatalf("checkTarget(%q) = %d, want %d", p, got, want)
				}
				p = append(p, "%4"...)
				if got, want := checkTarget(p), refTarget(p); got != want {
					t.Fatalf("checkTarget(%q) = %d, want %d", p, got, want)
				}
			}
		}
	}
}

// refCheckRawHeaders is checkRawHeaders as it was before the single-scan name check and the
// word-at-a-time value check.
func refCheckRawHeaders(raw []byte) int {
	var clSeen, teSeen bool
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		var line []byte
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i], raw[i+1:]
		}
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return fasthttp.StatusBadRequest
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fasthttp.StatusBadRequest
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fasthttp.StatusBadRequest
		}
		name, value := line[:colon], line[colon+1:]
		for _, c := range name {
			if !tokenTable[c] {
				return fasthttp.StatusBadRequest
			}
		}
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return fasthttp.StatusBadRequest
			}
		}
		switch {
		case len(name) == 14 && eqFold(name, "content-length"):
			v := trimOWS(value)
			if clSeen || len(v) == 0 {
				return fasthttp.StatusBadRequest
			}
			for _, c := range v {
				if c < '0' || c > '9' {
					return fasthttp.StatusBadRequest
				}
			}
			clSeen = true
		case len(name) == 17 && eqFold(name, "transfer-encoding"):
			if teSeen {
				return fasthttp.StatusBadRequest
			}
			teSeen = true
			if !eqFold(trimOWS(value), "chunked") {
				return fasthttp.StatusNotImplemented
			}
		}
	}
	if clSeen && teSeen {
		return fasthttp.StatusBadRequest
	}
	return 0
}

// TestCheckRawHeadersDifferential mutates header blocks (bounded, seeded) and compares
// checkRawHeaders with the reference.
func TestCheckRawHeadersDifferential(t *testing.T) {
	seeds := []string{
		browserHead[strings.Index(browserHead, "\r\n")+2:],
		"Host: a\r\nContent-Length: 12\r\n\r\n",
		"Host: a\r\nTransfer-Encoding: chunked\r\nX-A: b\tc\r\n\r\n",
		"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"X-Long: 0123456789abcdef0123456789\tabcdef\r\nX-B:\r\n\r\nignored\x00",
		"X: y\r", "X: y", "\r\n", "\r", " X: y\r\n\r\n", "X : y\r\n\r\n",
	}
	special := []byte{0, '\t', '\n', '\r', ' ', ':', 0x7f, 0x80, 0xff, 'a', ',', '"', '(', '@'}
	rng := rand.New(rand.NewPCG(12, 7))
	for i := 0; i < 300000; i++ {
		b := []byte(seeds[i%len(seeds)])
		for m := rng.IntN(3); m > 0 && len(b) > 0; m-- {
			p := rng.IntN(len(b))
			switch rng.IntN(5) {
			case 3:
				b = append(b[:p], append([]byte{special[rng.IntN(len(special))]}, b[p:]...)...)
			case 4:
				b = b[:p]
			case 0:
				b[p] = special[rng.IntN(len(special))]
			case 1:
				b[p] = byte(rng.IntN(256))
			default:
				b = append(b[:p], b[p+1:]...)
			}
		}
		if got, want := checkRawHeaders(b), refCheckRawHeaders(b); got != want {
			t.Fatalf("checkRawHeaders(%q) = %d, reference %d", b, got, want)
		}
	}
}

// BenchmarkBuildUpstreamRequest builds the upstream request for the bench client's
// request and for a browser-like one.
func BenchmarkBuildUpstreamRequest(b *testing.B) {
	for _, c := range []struct{ name, raw string }{
		{"bench", "GET /bench/item?id=42 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\n\r\n"},
		{"browser", browserHead},
	} {
		var fc fasthttp.RequestCtx
		if err := fc.Request.Read(bufio.NewReader(strings.NewReader(c.raw))); err != nil {
			b.Fatal(err)
		}
		rc := &reqCtx{fc: &fc}
		rc.srv = &Server{}
		rc.upstreamPath = append(rc.upstreamPath, fc.Request.URI().PathOriginal()...)
		rc.query = fc.Request.URI().QueryString()
		rc.host = []byte("bench.local")
		rc.scheme = "http"
		rc.peer = netip.MustParseAddrPort("127.0.0.1:40001")
		rc.remote = rc.peer.Addr()
		rc.local = netip.MustParseAddrPort("127.0.0.1:9080")
		u := &upstream.Upstream{Spec: &model.Upstream{PassHost: "pass"}}
		var req fasthttp.Request
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rc.buildUpstreamRequest(&req, u, false)
			}
		})
	}
}
