package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"hash"
	"math/big"
	"strconv"
	"unsafe"
)

// token is a JWS in compact form, split and decoded as lua-resty-jwt's load_jwt does. Its slices
// alias the request's bytes and the decode buffer.
type token struct {
	signingInput []byte // raw_header.raw_payload
	rawSig       []byte
	alg          []byte // header "alg" (nil when absent or not a string)
	payload      []byte // decoded payload JSON
}

// parseToken splits s into three dot-separated parts and decodes header and payload (base64url
// or standard alphabet, padding optional) into buf; both must be JSON objects.
func parseToken(s, buf []byte) (t token, ok bool) {
	d1 := bytes.IndexByte(s, '.')
	if d1 < 0 {
		return t, false
	}
	d2 := bytes.IndexByte(s[d1+1:], '.')
	if d2 < 0 {
		return t, false
	}
	d2 += d1 + 1
	if bytes.IndexByte(s[d2+1:], '.') >= 0 {
		return t, false
	}
	header, ok := decodeB64(buf[:0], s[:d1], jwtAlphabet)
	if !ok {
		return t, false
	}
	payload, ok := decodeB64(header[len(header):], s[d1+1:d2], jwtAlphabet)
	if !ok {
		return t, false
	}
	var alg []byte
	if !scanObject(header, func(k, v []byte) {
		if keyIs(k, "alg") {
			alg, _ = stringValue(v)
		}
	}) || !scanObject(payload, nil) {
		return t, false
	}
	return token{signingInput: s[:d2], rawSig: s[d2+1:], alg: alg, payload: payload}, true
}

// verify checks the signature with the credential's key; the header's alg must name the
// credential's algorithm. buf is scratch space for the decoded signature and digest.
func (c *credential) verify(t *token, buf []byte) bool {
	if string(t.alg) != c.alg.name {
		return false
	}
	// ngx.base64.decode_base64url: url alphabet only.
	sig, ok := decodeB64(buf[:0], t.rawSig, urlAlphabet)
	if !ok {
		return false
	}
	switch c.alg.family {
	case famHMAC:
		if c.macs == nil {
			return false
		}
		m := c.macs.Get().(hash.Hash)
		m.Reset()
		m.Write(t.signingInput)
		sum := m.Sum(sig[len(sig):])
		c.macs.Put(m)
		return hmac.Equal(sum, sig)
	case famRSA:
		return c.rsaKey != nil && rsa.VerifyPKCS1v15(c.rsaKey, c.alg.hash, c.digest(t, sig), sig) == nil
	case famPSS:
		return c.rsaKey != nil && len(sig) == c.alg.sigLen &&
			rsa.VerifyPSS(c.rsaKey, c.alg.hash, c.digest(t, sig), sig, pssOptions) == nil
	case famECDSA:
		if c.ecKey == nil || len(sig) != c.alg.sigLen {
			return false
		}
		half := len(sig) / 2
		r := new(big.Int).SetBytes(sig[:half])
		s := new(big.Int).SetBytes(sig[half:])
		return ecdsa.Verify(c.ecKey, c.digest(t, sig), r, s)
	case famEdDSA:
		return c.edKey != nil && ed25519.Verify(c.edKey, t.signingInput, sig)
	}
	return false
}

var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}

// digest hashes the signing input into the free capacity after sig.
func (c *credential) digest(t *token, sig []byte) []byte {
	h := c.alg.hash.New()
	h.Write(t.signingInput)
	return h.Sum(sig[len(sig):len(sig)])
}

// claims reads the registered time claims of a payload.
type claims struct {
	key            []byte // the key claim's string value
	keyPresent     bool   // present and not false (cjson: false is the only falsy value)
	exp, nbf       float64
	hasExp, hasNbf bool // present and not false
	badExp, badNbf bool // present but not a number
}

func readClaims(payload []byte, keyClaim string) (cl claims) {
	scanObject(payload, func(k, v []byte) {
		switch {
		case keyIs(k, keyClaim):
			cl.keyPresent = string(v) != "false"
			cl.key, _ = stringValue(v)
			if cl.key == nil && cl.keyPresent {
				cl.key = nonString
			}
		case keyIs(k, "exp"):
			cl.exp, cl.hasExp, cl.badExp = number(v)
		case keyIs(k, "nbf"):
			cl.nbf, cl.hasNbf, cl.badNbf = number(v)
		}
	})
	return cl
}

// nonString marks a key claim that is present but not a string: it names no consumer.
var nonString = []byte{0}

func number(v []byte) (f float64, present, bad bool) {
	if string(v) == "false" {
		return 0, false, false
	}
	if c := v[0]; c != '-' && (c < '0' || c > '9') {
		return 0, true, true
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v), len(v)), 64)
	return f, true, err != nil
}

// validClaims applies APISIX 3.17's rules: with no claims_to_verify, exp and nbf are checked
// only when present; a listed claim is required. Valid iff exp > now−grace and nbf < now+grace.
func validClaims(cl *claims, verifyExp, verifyNbf bool, now, grace int64) bool {
	if cl.hasExp {
		if cl.badExp || !(cl.exp > float64(now-grace)) {
			return false
		}
	} else if verifyExp {
		return false
	}
	if cl.hasNbf {
		if cl.badNbf || !(cl.nbf < float64(now+grace)) {
			return false
		}
	} else if verifyNbf {
		return false
	}
	return true
}

// Base64 decoding as nginx does it: input up to the first '=', any byte outside the alphabet an
// error, a length of 1 mod 4 an error, missing padding fine. lua-resty-jwt maps the url
// alphabet onto the standard one, so header and payload accept both.
type alphabet [256]byte

var (
	stdAlphabet = newAlphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", "")
	urlAlphabet = newAlphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", "")
	jwtAlphabet = newAlphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", "-_")
)

func newAlphabet(chars, alt62and63 string) *alphabet {
	var a alphabet
	for i := range a {
		a[i] = 0xff
	}
	for i := 0; i < len(chars); i++ {
		a[chars[i]] = byte(i)
	}
	if alt62and63 != "" {
		a[alt62and63[0]], a[alt62and63[1]] = 62, 63
	}
	return &a
}

// decodeB64 appends the decoding of src to dst.
func decodeB64(dst, src []byte, a *alphabet) ([]byte, bool) {
	if i := bytes.IndexByte(src, '='); i >= 0 {
		src = src[:i]
	}
	if len(src)%4 == 1 {
		return nil, false
	}
	var acc uint32
	var n uint
	for _, c := range src {
		v := a[c]
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
