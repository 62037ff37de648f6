package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"hash"
	"sync"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/authconsumer"
)

// family groups the JWS algorithms by how a signature is checked.
type family uint8

const (
	famHMAC family = iota + 1
	famRSA
	famPSS
	famECDSA
	famEdDSA
)

// algorithm is one JWS "alg" this plugin verifies.
type algorithm struct {
	name    string
	family  family
	hash    crypto.Hash
	newHash func() hash.Hash
	curve   elliptic.Curve // ES*: the key's curve
	sigLen  int            // ES*: raw r‖s length; PS*: APISIX's fixed 256
}

var algorithms = map[string]*algorithm{
	"HS256": {name: "HS256", family: famHMAC, hash: crypto.SHA256, newHash: sha256.New},
	"HS384": {name: "HS384", family: famHMAC, hash: crypto.SHA384, newHash: sha512.New384},
	"HS512": {name: "HS512", family: famHMAC, hash: crypto.SHA512, newHash: sha512.New},
	"RS256": {name: "RS256", family: famRSA, hash: crypto.SHA256, newHash: sha256.New},
	"RS384": {name: "RS384", family: famRSA, hash: crypto.SHA384, newHash: sha512.New384},
	"RS512": {name: "RS512", family: famRSA, hash: crypto.SHA512, newHash: sha512.New},
	"PS256": {name: "PS256", family: famPSS, hash: crypto.SHA256, newHash: sha256.New, sigLen: 256},
	"PS384": {name: "PS384", family: famPSS, hash: crypto.SHA384, newHash: sha512.New384, sigLen: 256},
	"PS512": {name: "PS512", family: famPSS, hash: crypto.SHA512, newHash: sha512.New, sigLen: 256},
	"ES256": {name: "ES256", family: famECDSA, hash: crypto.SHA256, newHash: sha256.New, curve: elliptic.P256(), sigLen: 64},
	"ES384": {name: "ES384", family: famECDSA, hash: crypto.SHA384, newHash: sha512.New384, curve: elliptic.P384(), sigLen: 96},
	"ES512": {name: "ES512", family: famECDSA, hash: crypto.SHA512, newHash: sha512.New, curve: elliptic.P521(), sigLen: 132},
	"EdDSA": {name: "EdDSA", family: famEdDSA},
}

// credential is one consumer's jwt-auth conf, compiled: the key material is parsed once per
// snapshot. A credential whose key is unusable stays in the index (so the consumer is found)
// and fails verification, as APISIX answers "failed to verify jwt" for an invalid public key.
type credential struct {
	consumer *plugin.Consumer
	alg      *algorithm
	grace    int64
	secret   []byte // HS*
	macs     *sync.Pool
	rsaKey   *rsa.PublicKey
	ecKey    *ecdsa.PublicKey
	edKey    ed25519.PublicKey
}

// index is jwt-auth's credential index for one snapshot: key → credential, and every consumer
// seen by username for anonymous_consumer.
type index struct {
	keys  map[string]*credential
	names authconsumer.Names
}

// consumerConf is the consumer_schema conf with its defaults.
type consumerConf struct {
	Key                 *string `json:"key"`
	Secret              *string `json:"secret"`
	PublicKey           *string `json:"public_key"`
	Algorithm           string  `json:"algorithm"`
	Base64Secret        bool    `json:"base64_secret"`
	LifetimeGracePeriod int64   `json:"lifetime_grace_period"`
}

// Index builds the index from every consumer and credential carrying jwt-auth. Entries without
// a key, an HS entry without a secret, and entries holding an unresolvable `$env://` /
// `$secret://` reference are skipped; on a duplicate key the last one wins, as in APISIX.
func Index(creds []plugin.Credential) (any, error) {
	ix := &index{keys: make(map[string]*credential, len(creds)), names: authconsumer.Names{}}
	for _, cr := range creds {
		ix.names.Add(cr.Consumer)
		if len(cr.Conf) == 0 || cr.Consumer == nil {
			continue
		}
		if key, c, ok := compile(cr); ok {
			ix.keys[key] = c
		}
	}
	return ix, nil
}

func compile(cr plugin.Credential) (string, *credential, bool) {
	cc := consumerConf{Algorithm: "HS256"}
	if json.Unmarshal(cr.Conf, &cc) != nil || cc.Key == nil {
		return "", nil, false
	}
	alg, ok := algorithms[cc.Algorithm]
	if !ok {
		return "", nil, false
	}
	key, ok := authconsumer.ResolveRef(*cc.Key)
	if !ok {
		return "", nil, false
	}
	c := &credential{consumer: cr.Consumer, alg: alg, grace: cc.LifetimeGracePeriod}
	if alg.family == famHMAC {
		if cc.Secret == nil {
			return "", nil, false
		}
		secret, ok := authconsumer.ResolveRef(*cc.Secret)
		if !ok {
			return "", nil, false
		}
		c.secret = []byte(secret)
		if cc.Base64Secret {
			// ngx.decode_base64; an undecodable secret is refused at write time, and here
			// leaves the credential unusable.
			c.secret, ok = decodeB64(nil, []byte(secret), stdAlphabet)
			if !ok {
				c.secret = nil
			}
		}
		if c.secret != nil {
			secret, newHash := c.secret, alg.newHash
			c.macs = &sync.Pool{New: func() any { return hmac.New(newHash, secret) }}
		}
		return key, c, true
	}
	if cc.PublicKey == nil {
		return key, c, true
	}
	pemText, ok := authconsumer.ResolveRef(*cc.PublicKey)
	if !ok {
		return "", nil, false
	}
	c.setPublicKey(parsePublicKey([]byte(pemText)))
	return key, c, true
}

// setPublicKey keeps pub only when it suits the credential's algorithm.
func (c *credential) setPublicKey(pub crypto.PublicKey) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if c.alg.family == famRSA || c.alg.family == famPSS {
			c.rsaKey = k
		}
	case *ecdsa.PublicKey:
		if c.alg.family == famECDSA && k.Curve == c.alg.curve {
			c.ecKey = k
		}
	case ed25519.PublicKey:
		if c.alg.family == famEdDSA {
			c.edKey = k
		}
	}
}

// parsePublicKey reads a PEM public key as OpenSSL's pkey.new does: SubjectPublicKeyInfo,
// PKCS#1 RSA, or a private key (PKCS#8, PKCS#1, SEC 1) whose public half is used. Nil when
// nothing usable is found.
func parsePublicKey(text []byte) crypto.PublicKey {
	block, _ := pem.Decode(text)
	if block == nil {
		return nil
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return k
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s.Public()
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return &k.PublicKey
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return &k.PublicKey
	}
	return nil
}

func (ix *index) lookup(key []byte) *credential {
	if ix == nil {
		return nil
	}
	return ix.keys[string(key)]
}

func (ix *index) byName(name string) *plugin.Consumer {
	if ix == nil {
		return nil
	}
	return ix.names[name]
}
