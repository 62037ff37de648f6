package control

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func pprofServer(t *testing.T, enabled bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(Options{Enabled: func() []string { return nil }, EnablePprof: enabled}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, body
}

func TestPprofOffByDefault(t *testing.T) {
	srv := pprofServer(t, false)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, _ := get(t, srv.URL+p); code != http.StatusNotFound {
			t.Errorf("GET %s with pprof off = %d, want 404", p, code)
		}
	}
	// The rest of the control API is unaffected.
	if code, _ := get(t, srv.URL+"/v1/healthcheck"); code != http.StatusOK {
		t.Errorf("GET /v1/healthcheck = %d, want 200", code)
	}
}

func TestPprofEnabled(t *testing.T) {
	srv := pprofServer(t, true)

	code, body := get(t, srv.URL+"/debug/pprof/")
	if code != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) || !bytes.Contains(body, []byte("heap")) {
		t.Fatalf("GET /debug/pprof/ = %d, %.200q; want 200 with the profile index", code, body)
	}
	code, body = get(t, srv.URL+"/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile:")) {
		t.Errorf("GET goroutine?debug=1 = %d, %.200q", code, body)
	}
	code, body = get(t, srv.URL+"/debug/pprof/cmdline")
	if code != http.StatusOK || !strings.Contains(string(body), "control.test") {
		t.Errorf("GET cmdline = %d, %q; want the test binary's command line", code, body)
	}
	// Binary profiles are gzipped protobuf: check they are real profiles, not an error page.
	for _, p := range []string{"/debug/pprof/heap", "/debug/pprof/allocs", "/debug/pprof/profile?seconds=1"} {
		code, body = get(t, srv.URL+p)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d, %.200q", p, code, body)
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Errorf("GET %s: not a gzipped profile: %v", p, err)
			continue
		}
		if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
			t.Errorf("GET %s: profile does not decompress (%d bytes): %v", p, len(raw), err)
		}
	}
	code, body = get(t, srv.URL+"/debug/pprof/trace?seconds=0.2")
	if code != http.StatusOK || len(body) == 0 {
		t.Errorf("GET trace = %d, %d bytes", code, len(body))
	}
	resp, err := http.Post(srv.URL+"/debug/pprof/symbol", "text/plain", strings.NewReader("0x0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST symbol = %d", resp.StatusCode)
	}
}
