package app

import "testing"

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
