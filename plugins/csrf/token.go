package csrf

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
)

// The token is APISIX's: standard base64 of {"random":<float>,"expires":<issue time>,"sign":<hex>}
// where sign = lower-case hex SHA-256 of "{expires:<expires>,random:<random>,key:<key>}" and
// numbers are rendered as Lua's tostring does (%.14g).

// appendNumber renders f as Lua's tostring / cjson do: "%.14g".
func appendNumber(dst []byte, f float64) []byte {
	return strconv.AppendFloat(dst, f, 'g', 14, 64)
}

// appendSign appends the hex signature of the already rendered random and expires.
func appendSign(dst, expires, random []byte, key string) []byte {
	h := sha256.New()
	var buf [128]byte
	b := append(buf[:0], "{expires:"...)
	b = append(b, expires...)
	b = append(b, ",random:"...)
	b = append(b, random...)
	b = append(b, ",key:"...)
	h.Write(b)
	h.Write([]byte(key))
	h.Write([]byte{'}'})
	var sum [sha256.Size]byte
	return hex.AppendEncode(dst, h.Sum(sum[:0]))
}

// appendToken appends a fresh base64 token issued at now.
func appendToken(dst []byte, random float64, now int64, key string) []byte {
	var rb, eb [32]byte
	r := appendNumber(rb[:0], random)
	e := strconv.AppendInt(eb[:0], now, 10)
	var jb [192]byte
	j := append(jb[:0], `{"random":`...)
	j = append(j, r...)
	j = append(j, `,"expires":`...)
	j = append(j, e...)
	j = append(j, `,"sign":"`...)
	j = appendSign(j, e, r, key)
	j = append(j, `"}`...)
	return base64.StdEncoding.AppendEncode(dst, j)
}

// verify checks a token as APISIX's check_csrf_token: base64, a JSON object with random and
// expires, not expired (when maxAge > 0) and a matching signature.
func verify(token []byte, key string, maxAge int64, now int64) bool {
	var db [512]byte
	token = bytes.TrimRight(token, "=") // nginx's decoder takes unpadded input too
	n := base64.RawStdEncoding.DecodedLen(len(token))
	dst := db[:0]
	if n > len(db) {
		dst = make([]byte, 0, n)
	}
	js, err := base64.RawStdEncoding.AppendDecode(dst, token)
	if err != nil {
		return false
	}
	f, ok := parseFields(js)
	if !ok || f.random.kind == valAbsent || f.expires.kind == valAbsent {
		return false
	}
	// Lua: `time_now - expires` needs a number (a numeric string coerces); `..` renders a
	// number with %.14g and a string verbatim.
	exp, ok := f.expires.number()
	if !ok || f.random.kind != valNumber && f.random.kind != valString {
		return false
	}
	if maxAge > 0 && float64(now)-exp > float64(maxAge) {
		return false
	}
	var rb, eb [32]byte
	random, expires := f.random.text(rb[:0]), f.expires.text(eb[:0])
	if f.sign.kind != valString {
		return false
	}
	var sb [2 * sha256.Size]byte
	want := appendSign(sb[:0], expires, random, key)
	return subtle.ConstantTimeCompare(want, f.sign.raw) == 1
}

// cookieTime formats t as nginx's ngx_http_cookie_time: "Thu, 18-Nov-10 11:27:35 GMT", with a
// two-digit year up to 2037 and four digits after.
func appendCookieTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Year() > 2037 {
		return t.AppendFormat(dst, "Mon, 02-Jan-2006 15:04:05 GMT")
	}
	return t.AppendFormat(dst, "Mon, 02-Jan-06 15:04:05 GMT")
}
