package app

import (
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/upstream"
)

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{nil, 0, true},
		{0, 0, true},
		{1024, 1024, true},
		{float64(2048), 2048, true},
		{"0", 0, true},
		{"100", 100, true},
		{" 8k ", 8 << 10, true},
		{"1M", 1 << 20, true},
		{"2g", 2 << 30, true},
		{"", 0, false},
		{"k", 0, false},
		{"1.5m", 0, false},
		{"-1", 0, false},
		{-1, 0, false},
		{1.5, 0, false},
		{"10x", 0, false},
		{"9999999999999999g", 0, false}, // overflows int64
		{true, 0, false},
	} {
		got, err := byteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("byteSize(%#v) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestUpstreamPool(t *testing.T) {
	got, err := upstreamPool(map[string]any{"keepalive": 64, "keepalive_requests": "500", "keepalive_timeout": "30s"})
	if err != nil || got != (upstream.PoolDefaults{Size: 64, Requests: 500, Idle: 30 * time.Second}) {
		t.Fatalf("upstreamPool = %+v, %v", got, err)
	}
	if got, err := upstreamPool(nil); err != nil || got != (upstream.PoolDefaults{}) {
		t.Fatalf("absent: %+v, %v; want APISIX's defaults (zero)", got, err)
	}
	if got, err := upstreamPool(map[string]any{"keepalive_timeout": 5}); err != nil || got.Idle != 5*time.Second || got.Size != 0 {
		t.Fatalf("timeout in seconds: %+v, %v", got, err)
	}
	for _, bad := range []map[string]any{
		{"keepalive": 0}, {"keepalive": -3}, {"keepalive": "many"}, {"keepalive": 1.5},
		{"keepalive_requests": true}, {"keepalive_timeout": "soon"}, {"keepalive_timeout": 0},
	} {
		if _, err := upstreamPool(bad); err == nil {
			t.Errorf("upstreamPool(%v): no error", bad)
		}
	}
	if _, err := upstreamPool("320"); err == nil {
		t.Error("a string for the whole section: no error")
	}
}

func TestOnOff(t *testing.T) {
	for _, tc := range []struct {
		in       any
		want, ok bool
	}{
		{nil, false, true}, {"on", true, true}, {" OFF ", false, true}, {true, true, true}, {false, false, true},
		{"yes", false, false}, {"true", false, false}, {1, false, false},
	} {
		got, err := onOff(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("onOff(%#v) = %v, %v", tc.in, got, err)
		}
	}
}
