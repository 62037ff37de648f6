package hmacauth

import (
	"bytes"
	"encoding/base64"
)

// params are the fields of a `Signature` Authorization value; the has* flags tell a present
// empty value (`keyId=""`, which Lua treats as given) from an absent one.
type params struct {
	keyID, algorithm, signature, headers []byte
	hasKeyID, hasAlg, hasSig, hasHeaders bool
}

// parseSignature does what APISIX's retrieve_hmac_fields does with the Authorization value after
// "Signature": split it on ',' (empty pieces dropped) and match each piece with Lua's
// `%s*(%w+)="(.-)"`, unanchored: the first `<alnum>+="` in the piece, its value running to the
// next '"'. Later pieces overwrite earlier ones; unknown keys are ignored. Results alias rest.
func parseSignature(rest []byte) params {
	var p params
	for len(rest) > 0 {
		piece := rest
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			piece, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		key, val, ok := matchField(piece)
		if !ok {
			continue
		}
		switch string(key) {
		case "keyId":
			p.keyID, p.hasKeyID = val, true
		case "algorithm":
			p.algorithm, p.hasAlg = val, true
		case "signature":
			p.signature, p.hasSig = val, true
		case "headers":
			p.headers, p.hasHeaders = val, true
		}
	}
	return p
}

// matchField finds the leftmost match of `(%w+)="(.-)"` in s. The leftmost start belongs to the
// first `="` preceded by an alphanumeric run: a later `="` would need its own closing quote, and
// that quote also closes the earlier one.
func matchField(s []byte) (key, val []byte, ok bool) {
	for off := 0; ; {
		i := bytes.Index(s[off:], []byte(`="`))
		if i < 0 {
			return nil, nil, false
		}
		eq := off + i
		start := eq
		for start > 0 && isAlnum(s[start-1]) {
			start--
		}
		if start < eq {
			end := bytes.IndexByte(s[eq+2:], '"')
			if end < 0 {
				return nil, nil, false
			}
			return s[start:eq], s[eq+2 : eq+2+end], true
		}
		off = eq + 1
	}
}

// isAlnum is Lua's %w in the C locale.
func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// nextName returns the next name of a `headers` list split on single spaces, as ngx.re.split
// does, and the rest of the list; empty names (from doubled spaces) are skipped, as they never
// match anything. ok is false when the list is exhausted.
func nextName(list []byte) (name, rest []byte, ok bool) {
	for len(list) > 0 {
		name, rest = list, nil
		if i := bytes.IndexByte(list, ' '); i >= 0 {
			name, rest = list[:i], list[i+1:]
		}
		if len(name) > 0 {
			return name, rest, true
		}
		list = rest
	}
	return nil, nil, false
}

// listed reports whether want is one of the names of a `headers` list (case-sensitive).
func listed(list []byte, want string) bool {
	for name, rest, ok := nextName(list); ok; name, rest, ok = nextName(rest) {
		if string(name) == want {
			return true
		}
	}
	return false
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
	for _, c := range src {
		if !isBase64(c) {
			return nil, false
		}
	}
	n := base64.RawStdEncoding.DecodedLen(len(src))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	n, err := base64.RawStdEncoding.Decode(dst[:n], src)
	if err != nil {
		return nil, false
	}
	return dst[:n], true
}

func isBase64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }
