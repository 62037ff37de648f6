package vartemplate

import "unsafe"

// unsafeBytes views a constant string as bytes; the result is only read.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
