// Package encryption implements APISIX's data_encryption: AES-CBC with key = IV = a keyring
// entry, PKCS#7 padding, base64; encrypt with the first entry, decrypt trying each in order.
package encryption

import "github.com/sluicegw/sluice/internal/model"

// DefaultKeyring is APISIX's apisix.data_encryption.keyring when config.yaml sets none.
var DefaultKeyring = []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"}

// Keyring holds the AES keys.
type Keyring struct{ keys [][]byte }

// NewKeyring checks that every key is 16 or 32 bytes.
func NewKeyring(keys []string) (*Keyring, error) { panic("not implemented") }

// Encrypt returns base64(AES-CBC(plain)) with the first key.
func (k *Keyring) Encrypt(plain string) (string, error) { panic("not implemented") }

// Decrypt tries every key in order.
func (k *Keyring) Decrypt(ciphertext string) (string, error) { panic("not implemented") }

// EncryptObject encrypts, in place, the fields APISIX encrypts in a resource of kind: every
// plugin conf's encrypt_fields (consumer/credential auth confs included) and an SSL's key/keys.
func (k *Keyring) EncryptObject(kind model.Kind, obj map[string]any) error { panic("not implemented") }

// DecryptObject reverses EncryptObject; a field that does not decrypt is left as it is.
func (k *Keyring) DecryptObject(kind model.Kind, obj map[string]any) { panic("not implemented") }
