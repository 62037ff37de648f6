package proxy

import "unsafe"

// b2s and s2b convert without copying; the result must not outlive (or modify) the source.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
