// Package encryption implements APISIX's data_encryption: AES-CBC with key = IV = a keyring
// entry, PKCS#7 padding, base64; encrypt with the first entry, decrypt trying each in order.
package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// DefaultKeyring is APISIX's apisix.data_encryption.keyring when config.yaml sets none.
var DefaultKeyring = []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"}

// ErrDecrypt reports a value that no keyring entry decrypts (or that is not base64).
var ErrDecrypt = errors.New("decrypt failed")

// Keyring holds the AES keys. It is immutable and safe for concurrent use.
type Keyring struct {
	keys   [][]byte
	blocks []cipher.Block
	// noPluginFields mirrors `enable_encrypt_fields: false`: plugin encrypt_fields are then
	// stored in clear, while SSL and upstream client keys are still encrypted, as in APISIX.
	noPluginFields bool
}

// NewKeyring checks that every key is 16 or 32 bytes. An empty keyring is valid: like APISIX with
// no keyring, it stores values in clear and returns stored values unchanged.
func NewKeyring(keys []string) (*Keyring, error) {
	k := &Keyring{}
	for i, key := range keys {
		// APISIX silently skips other lengths; refusing them here turns a typo in config.yaml
		// into a startup error instead of data stored in clear.
		if len(key) != 16 && len(key) != 32 {
			return nil, fmt.Errorf("data_encryption keyring[%d]: key must be 16 or 32 bytes, got %d", i, len(key))
		}
		block, err := aes.NewCipher([]byte(key))
		if err != nil {
			return nil, fmt.Errorf("data_encryption keyring[%d]: %w", i, err)
		}
		k.keys = append(k.keys, []byte(key))
		k.blocks = append(k.blocks, block)
	}
	return k, nil
}

// WithEncryptFields returns a copy of k that encrypts and decrypts plugin encrypt_fields only
// when enabled (config.yaml apisix.data_encryption.enable_encrypt_fields, default true). SSL
// keys and upstream tls.client_key are handled either way, as APISIX does.
func (k *Keyring) WithEncryptFields(enabled bool) *Keyring {
	c := *k
	c.noPluginFields = !enabled
	return &c
}

// Encrypt returns base64(AES-CBC(plain)) with the first key; with no keys it returns plain.
func (k *Keyring) Encrypt(plain string) (string, error) {
	if len(k.blocks) == 0 {
		return plain, nil
	}
	block, iv := k.blocks[0], k.keys[0][:aes.BlockSize]
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt tries every key in order and returns the first plaintext with valid padding, as
// OpenSSL does for APISIX; with no keys it returns ciphertext unchanged.
func (k *Keyring) Decrypt(ciphertext string) (string, error) {
	if len(k.blocks) == 0 {
		return ciphertext, nil
	}
	raw, err := decodeBase64(ciphertext)
	if err != nil {
		return "", fmt.Errorf("%w: base64 decode: %w", ErrDecrypt, err)
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return "", fmt.Errorf("%w: ciphertext of %d bytes is not a whole number of AES blocks", ErrDecrypt, len(raw))
	}
	buf := make([]byte, len(raw))
	for i, block := range k.blocks {
		cipher.NewCBCDecrypter(block, k.keys[i][:aes.BlockSize]).CryptBlocks(buf, raw)
		if plain, ok := unpad(buf); ok {
			return string(plain), nil
		}
	}
	return "", fmt.Errorf("%w with every keyring entry", ErrDecrypt)
}

// decodeBase64 accepts what nginx's ngx.decode_base64 accepts: the standard alphabet, with or
// without trailing '=' padding.
func decodeBase64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func unpad(b []byte) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, false
	}
	if !bytes.Equal(b[len(b)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, false
	}
	return b[:len(b)-n], true
}

// isSecretRef reports a `$secret://` or `$env://` reference, resolved at runtime and never
// encrypted (APISIX's check_secret_uri compares case-insensitively).
func isSecretRef(s string) bool {
	u := strings.ToLower(s)
	return strings.HasPrefix(u, "$secret://") || strings.HasPrefix(u, "$env://")
}

// isPEM is APISIX's test for a private key in clear: ssl.lua encrypts and decrypts only values
// that do not start with "---", so a stored PEM key (written with encryption off) stays readable.
func isPEM(s string) bool { return strings.HasPrefix(s, "---") }
