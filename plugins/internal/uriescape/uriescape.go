// Package uriescape escapes URIs as nginx's ngx_escape_uri does (core.utils.uri_safe_encode).
package uriescape

// uriTable marks the bytes NGX_ESCAPE_URI escapes: controls, space, '#', '%', '?', 0x7F and
// every byte >= 0x80.
var uriTable = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c <= 0x20 || c == '#' || c == '%' || c == '?' || c >= 0x7F
	}
	return t
}()

const hexUpper = "0123456789ABCDEF"

// AppendURI appends s to dst with NGX_ESCAPE_URI escaping (uppercase %XX).
func AppendURI(dst []byte, s []byte) []byte {
	for _, c := range s {
		if uriTable[c] {
			dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// NeedsURI reports whether AppendURI would change s.
func NeedsURI(s []byte) bool {
	for _, c := range s {
		if uriTable[c] {
			return true
		}
	}
	return false
}

// AppendControls appends s escaping only control bytes (< 0x20 and 0x7F), as nginx does for
// the query part of a rewritten upstream URI.
func AppendControls(dst []byte, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c == 0x7F {
			dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
