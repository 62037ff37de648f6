package gzip

import "bytes"

// acceptsGzip reports whether Accept-Encoding lists gzip with a non-zero quality, as nginx's
// ngx_http_gzip_ok reads it (no "*" wildcard, a malformed q counts as 0).
func acceptsGzip(ae []byte) bool {
	for len(ae) > 0 {
		var tok []byte
		tok, ae, _ = bytes.Cut(ae, []byte(","))
		name, params, _ := bytes.Cut(tok, []byte(";"))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("gzip")) {
			return qualityPositive(params)
		}
	}
	return false
}

// qualityPositive reads the q parameter among ';'-separated params: absent means 1; otherwise
// it must be a valid qvalue (0-1, up to three decimals) above zero.
func qualityPositive(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		k, v, ok := bytes.Cut(p, []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || (v[0] != '0' && v[0] != '1') {
			return false
		}
		positive := v[0] == '1'
		rest := v[1:]
		if len(rest) > 0 {
			if rest[0] != '.' || len(rest) > 4 {
				return false
			}
			for _, d := range rest[1:] {
				if d < '0' || d > '9' || (positive && d != '0') {
					return false
				}
				positive = positive || d != '0'
			}
		}
		return positive
	}
	return true
}
