package requestid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
	"time"
)

// The generators fill a stack buffer and return one string: the only allocation per request.

func uuidV4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(&b)
}

// uuidV7 is RFC 9562 version 7: 48-bit Unix milliseconds, then random bits. (APISIX adds a
// per-worker sequence for monotonicity inside a millisecond; that would need state shared
// across requests, so Sluice uses random bits there.)
func uuidV7() string {
	var b [16]byte
	rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(&b)
}

func formatUUID(b *[16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

const nanoidAlphabet = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"

// nanoid is 21 characters of the URL-safe alphabet from a CSPRNG.
func nanoid() string {
	var b [21]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = nanoidAlphabet[b[i]&63]
	}
	return string(b[:])
}

const (
	ksuidEpoch  = 1400000000
	base62Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ksuid is a 27-character KSUID: 32-bit seconds since 2014-05-13 then 128 random bits,
// base62-encoded big-endian with leading zeros.
func ksuid() string {
	var raw [20]byte
	binary.BigEndian.PutUint32(raw[:4], uint32(time.Now().Unix()-ksuidEpoch))
	rand.Read(raw[4:])
	return ksuidEncode(&raw)
}

func ksuidEncode(raw *[20]byte) string {
	var parts [5]uint32
	for i := range parts {
		parts[i] = binary.BigEndian.Uint32(raw[i*4:])
	}
	var out [27]byte
	n := len(out)
	num := parts[:]
	for len(num) > 0 {
		// Divide the base-2^32 number by 62, keeping the quotient's non-zero prefix.
		var rem uint64
		q := num[:0]
		for _, d := range num {
			acc := rem<<32 | uint64(d)
			qd := acc / 62
			rem = acc % 62
			if len(q) != 0 || qd != 0 {
				q = append(q, uint32(qd))
			}
		}
		n--
		out[n] = base62Chars[rem]
		num = q
	}
	for n > 0 {
		n--
		out[n] = '0'
	}
	return string(out[:])
}

// rangeID is length characters drawn from charset (byte-wise, as Lua indexes strings).
func rangeID(length int, charset string) string {
	var stack [64]byte
	b := stack[:0]
	if length > len(stack) {
		b = make([]byte, 0, length)
	}
	for range length {
		b = append(b, charset[mrand.IntN(len(charset))])
	}
	return string(b)
}
