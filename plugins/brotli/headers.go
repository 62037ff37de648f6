package brotli

import "bytes"

// acceptsBrotli is APISIX's check: Accept-Encoding is "*" or "br", or lists br or * without
// a zero quality ("br;q=0", "br;q=0.0").
func acceptsBrotli(ae []byte) bool {
	for len(ae) > 0 {
		var tok []byte
		tok, ae, _ = bytes.Cut(ae, []byte(","))
		name, params, _ := bytes.Cut(tok, []byte(";"))
		name = bytes.TrimSpace(name)
		if (bytes.EqualFold(name, []byte("br")) || string(name) == "*") && !qualityZero(params) {
			return true
		}
	}
	return false
}

// qualityZero reports a q parameter of zero among ';'-separated params.
func qualityZero(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		k, v, ok := bytes.Cut(p, []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '0' {
			return false
		}
		if len(v) == 1 {
			return true
		}
		if v[1] != '.' {
			return false
		}
		for _, d := range v[2:] {
			if d != '0' {
				return false
			}
		}
		return true
	}
	return false
}
