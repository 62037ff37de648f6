package requestid

import (
	"encoding/binary"
	"encoding/hex"
	mrand "math/rand/v2"
	"time"
)

// The generators append the id to dst, which has room for every fixed-length id, so that the
// per-request state holding dst is the only allocation per request.

// fillRandom fills b from the runtime's generator behind math/rand/v2 (per-thread ChaCha8
// seeded from the OS): no lock and no getrandom per id, ~75 ns less than crypto/rand for a
// uuid. Ids are not secrets; APISIX itself draws them from LuaJIT's math.random.
func fillRandom(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, mrand.Uint64())
		b = b[8:]
	}
	if len(b) > 0 {
		v := mrand.Uint64()
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
	}
}

func uuidV4(dst []byte) []byte {
	var b [16]byte
	fillRandom(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return appendUUID(dst, &b)
}

// uuidV7 is RFC 9562 version 7: 48-bit Unix milliseconds, then random bits. (APISIX adds a
// per-worker sequence for monotonicity inside a millisecond; that would need state shared
// across requests, so Sluice uses random bits there.)
func uuidV7(dst []byte) []byte {
	var b [16]byte
	fillRandom(b[6:])
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return appendUUID(dst, &b)
}

func appendUUID(dst []byte, b *[16]byte) []byte {
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
	return append(dst, s[:]...)
}

const nanoidAlphabet = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"

// nanoid is 21 characters of the URL-safe alphabet from fillRandom.
func nanoid(dst []byte) []byte {
	var b [21]byte
	fillRandom(b[:])
	for i := range b {
		b[i] = nanoidAlphabet[b[i]&63]
	}
	return append(dst, b[:]...)
}

const (
	ksuidEpoch  = 1400000000
	base62Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ksuid is a 27-character KSUID: 32-bit seconds since 2014-05-13 then 128 random bits,
// base62-encoded big-endian with leading zeros.
func ksuid(dst []byte) []byte {
	var raw [20]byte
	binary.BigEndian.PutUint32(raw[:4], uint32(time.Now().Unix()-ksuidEpoch))
	fillRandom(raw[4:])
	return ksuidAppend(dst, &raw)
}

func ksuidAppend(dst []byte, raw *[20]byte) []byte {
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
	return append(dst, out[:]...)
}

// appendRangeID appends length characters drawn from charset (byte-wise, as Lua indexes
// strings).
func appendRangeID(dst []byte, length int, charset string) []byte {
	for range length {
		dst = append(dst, charset[mrand.IntN(len(charset))])
	}
	return dst
}
