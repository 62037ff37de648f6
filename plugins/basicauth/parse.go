package basicauth

import "bytes"

// parseBasic does what APISIX's extract_auth_header does with an Authorization value: find
// `(?i:basic)\s(.+)` anywhere in it, base64-decode the capture as ngx.decode_base64 does, split
// the text on ':' (trailing empty fields dropped, as ngx.re.split does; fewer than two fields is
// an error) and delete all whitespace from the first two fields. The results alias dst's array
// (grown when too small).
func parseBasic(h, dst []byte) (user, pass []byte, ok bool) {
	enc, found := basicCapture(h)
	if !found {
		return nil, nil, false
	}
	dec, ok := decodeBase64(dst, enc)
	if !ok {
		return nil, nil, false
	}
	// ngx.re.split drops trailing empty fields: "u:" and "u::" have one field.
	dec = bytes.TrimRight(dec, ":")
	user, rest, found := bytes.Cut(dec, []byte{':'})
	if !found {
		return nil, nil, false
	}
	pass, _, _ = bytes.Cut(rest, []byte{':'})
	return stripSpace(user), stripSpace(pass), true
}

// basicCapture returns the first match of `(?i:basic)\s(.+)`'s group: the rest of the line after
// "basic" and one whitespace byte, at least one byte long ('.' does not match '\n').
func basicCapture(h []byte) ([]byte, bool) {
	for i := 0; i+6 < len(h); i++ {
		if !isSpace(h[i+5]) || !equalFoldBasic(h[i:i+5]) {
			continue
		}
		rest := h[i+6:]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		if len(rest) > 0 {
			return rest, true
		}
	}
	return nil, false
}

func equalFoldBasic(b []byte) bool {
	return b[0]|0x20 == 'b' && b[1]|0x20 == 'a' && b[2]|0x20 == 's' && b[3]|0x20 == 'i' && b[4]|0x20 == 'c'
}

// isSpace is PCRE's \s: space, \t, \n, \v, \f, \r.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// stripSpace deletes every \s byte in place.
func stripSpace(b []byte) []byte {
	out := b[:0]
	for _, c := range b {
		if !isSpace(c) {
			out = append(out, c)
		}
	}
	return out
}

// decodeBase64 decodes as nginx's ngx_decode_base64 does: the standard alphabet, input taken up
// to the first '=', any other byte outside the alphabet an error, padding optional.
func decodeBase64(dst, src []byte) ([]byte, bool) {
	if i := bytes.IndexByte(src, '='); i >= 0 {
		src = src[:i]
	}
	if len(src)%4 == 1 {
		return nil, false
	}
	var acc uint32
	var n uint
	for _, c := range src {
		v := b64val[c]
		if v == 0xff {
			return nil, false
		}
		acc = acc<<6 | uint32(v)
		n += 6
		if n >= 8 {
			n -= 8
			dst = append(dst, byte(acc>>n))
		}
	}
	return dst, true
}

var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	return t
}()
