package hmacauth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/authconsumer"
)

// Exit bodies (plugins.md §3 hmac-auth, §3.0).
var (
	bodyMissingHeader = plugin.Message("client request can't be validated: missing Authorization header")
	bodyWrongScheme   = plugin.Message("client request can't be validated: Authorization header does not start with 'Signature'")
	bodyInvalid       = plugin.Message("client request can't be validated")
	bodyInvalidUser   = plugin.Message("Invalid user authorization")
)

// algorithm is one accepted `algorithm` value.
type algorithm uint8

const (
	algSHA1 algorithm = iota
	algSHA256
	algSHA512
	numAlgs
)

var algNames = [numAlgs]string{"hmac-sha1", "hmac-sha256", "hmac-sha512"}

var algHashes = [numAlgs]func() hash.Hash{sha1.New, sha256.New, sha512.New}

func parseAlgorithm(b []byte) (algorithm, bool) {
	for a, name := range algNames {
		if string(b) == name {
			return algorithm(a), true
		}
	}
	return 0, false
}

// requestURI is $request_uri, the raw request target the client signed.
var requestURI = plugin.Var{Kind: plugin.VarRequestURI}

// conf is the route-side conf with the schema defaults applied.
type conf struct {
	AllowedAlgorithms   []string `json:"allowed_algorithms"`
	ClockSkew           int64    `json:"clock_skew"`
	SignedHeaders       []string `json:"signed_headers"`
	ValidateRequestBody bool     `json:"validate_request_body"`
	MaxReqBodySize      int64    `json:"max_req_body_size"`
	HideCredentials     bool     `json:"hide_credentials"`
	Realm               string   `json:"realm"`
	AnonymousConsumer   string   `json:"anonymous_consumer"`
}

// HMACAuth is one compiled hmac-auth conf.
type HMACAuth struct {
	allowed       [numAlgs]bool
	clockSkew     int64
	signedHeaders []string
	validateBody  bool
	maxBody       int64
	hide          bool
	anonymous     string
	wwwAuth       string
	log           *slog.Logger
	now           func() int64
}

// New compiles an hmac-auth conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	cf := conf{
		AllowedAlgorithms: []string{"hmac-sha1", "hmac-sha256", "hmac-sha512"}, // not algNames[:]: Unmarshal would write into it
		ClockSkew:         300,
		SignedHeaders:     []string{"date"},
		MaxReqBodySize:    64 << 20,
		Realm:             "hmac",
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("hmac-auth: %w", err)
		}
	}
	h := &HMACAuth{
		clockSkew:     cf.ClockSkew,
		signedHeaders: cf.SignedHeaders,
		validateBody:  cf.ValidateRequestBody,
		maxBody:       cf.MaxReqBodySize,
		hide:          cf.HideCredentials,
		anonymous:     cf.AnonymousConsumer,
		wwwAuth:       `hmac realm="` + cf.Realm + `"`,
		log:           env.Logger,
		now:           func() int64 { return time.Now().Unix() },
	}
	for _, name := range cf.AllowedAlgorithms {
		a, ok := parseAlgorithm([]byte(name))
		if !ok {
			return nil, fmt.Errorf("hmac-auth: allowed_algorithms: unknown algorithm %q", name)
		}
		h.allowed[a] = true
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// failure is why a request was not authenticated: a 401 body plus the detail APISIX only logs,
// or a 413 that skips the anonymous fallback.
type failure struct {
	status int
	body   []byte
	reason string
}

// Rewrite verifies the request's signature and attaches the consumer whose key_id signed it.
func (h *HMACAuth) Rewrite(c plugin.Ctx) {
	ix, _ := c.Credentials().(*index)
	cr, f := h.authenticate(c, ix)
	if f.status == 413 {
		c.Exit(413, f.body)
		return
	}
	if cr == nil {
		if f.reason != "" {
			h.log.Warn("hmac-auth: client request can't be validated", "reason", f.reason)
		}
		if h.anonymous == "" {
			c.SetRespHeader("WWW-Authenticate", h.wwwAuth)
			c.Exit(401, f.body)
			return
		}
		if cr = ix.byName(h.anonymous); cr == nil {
			c.SetRespHeader("WWW-Authenticate", h.wwwAuth)
			c.Exit(401, bodyInvalidUser)
			return
		}
	}
	if h.hide {
		c.DelHeader("Authorization")
	}
	authconsumer.Attach(c, cr)
}

// authenticate runs APISIX's checks in its order (plugins.md §3 hmac-auth).
func (h *HMACAuth) authenticate(c plugin.Ctx, ix *index) (*plugin.Consumer, failure) {
	auth, ok := c.Header("Authorization")
	if !ok {
		return nil, failure{body: bodyMissingHeader}
	}
	const scheme = "Signature"
	if len(auth) < len(scheme) || string(auth[:len(scheme)]) != scheme {
		return nil, failure{body: bodyWrongScheme}
	}
	p := parseSignature(auth[len(scheme):])
	if !p.hasKeyID || !p.hasSig {
		return nil, invalid("keyId or signature missing")
	}
	if !p.hasAlg {
		return nil, invalid("algorithm missing")
	}
	e, reason := ix.lookup(p.keyID)
	if e == nil {
		return nil, invalid(reason)
	}
	alg, ok := parseAlgorithm(p.algorithm)
	if !ok || !h.allowed[alg] {
		return nil, invalid("Invalid algorithm")
	}
	if f, ok := h.checkDate(c); !ok {
		return nil, f
	}
	if len(h.signedHeaders) > 0 && !p.hasHeaders {
		return nil, invalid("headers missing")
	}
	for _, want := range h.signedHeaders {
		if !listed(p.headers, want) {
			return nil, invalid(`expected header "` + want + `" missing in signing`)
		}
	}
	if !e.verify(c, alg, &p) {
		return nil, invalid("Invalid signature")
	}
	if h.validateBody {
		if f, ok := h.checkDigest(c); !ok {
			return nil, f
		}
	}
	return e.consumer, failure{}
}

func invalid(reason string) failure { return failure{body: bodyInvalid, reason: reason} }

// checkDate enforces clock_skew against the Date header (an HTTP date in any of its three forms).
func (h *HMACAuth) checkDate(c plugin.Ctx) (failure, bool) {
	d, ok := c.Header("Date")
	if !ok {
		return invalid("Date header missing. failed to validate clock skew"), false
	}
	t, ok := parseHTTPDate(d)
	if !ok {
		return invalid("Invalid GMT format time"), false
	}
	diff := h.now() - t
	if diff < 0 {
		diff = -diff
	}
	if diff > h.clockSkew {
		return invalid("Clock skew exceeded"), false
	}
	return failure{}, true
}

// checkDigest requires Digest == "SHA-256=" + base64(SHA-256(body)), reading the body only when a
// Digest is present and the body fits max_req_body_size (core.request.get_body's checks).
func (h *HMACAuth) checkDigest(c plugin.Ctx) (failure, bool) {
	digest, ok := c.Header("Digest")
	if !ok {
		return invalid("Invalid digest"), false
	}
	if cl, ok := c.Header("Content-Length"); ok {
		if n, err := strconv.ParseInt(unsafeString(cl), 10, 64); err == nil && n > h.maxBody {
			return h.tooLarge(n), false
		}
	}
	body, err := c.Body()
	if err != nil {
		// The runtime could not buffer the body (larger than its own bound, or a read error):
		// the request can neither be verified nor forwarded intact.
		h.log.Warn("hmac-auth: failed to read request body", "error", err)
		return failure{status: 413}, false
	}
	if int64(len(body)) > h.maxBody {
		return h.tooLarge(int64(len(body))), false
	}
	const prefix = "SHA-256="
	sum := sha256.Sum256(body)
	var want [len(prefix) + 44]byte
	copy(want[:], prefix)
	base64.StdEncoding.Encode(want[len(prefix):], sum[:])
	if !hmac.Equal(digest, want[:]) {
		return invalid("Invalid digest"), false
	}
	return failure{}, true
}

// parseHTTPDate parses an HTTP date to Unix seconds. IMF-fixdate, what clients send, is parsed
// by hand (time.Parse allocates a zone for "GMT"); RFC 850 and asctime go through net/http.
func parseHTTPDate(d []byte) (int64, bool) {
	const layout = "Mon, 02 Jan 2006 15:04:05 GMT"
	if len(d) == len(layout) && d[3] == ',' && d[4] == ' ' && d[7] == ' ' && d[11] == ' ' &&
		d[16] == ' ' && d[19] == ':' && d[22] == ':' && string(d[25:]) == " GMT" {
		day, ok1 := digits(d[5:7])
		year, ok2 := digits(d[12:16])
		hh, ok3 := digits(d[17:19])
		mm, ok4 := digits(d[20:22])
		ss, ok5 := digits(d[23:25])
		month := monthIndex(d[8:11])
		if ok1 && ok2 && ok3 && ok4 && ok5 && month > 0 && day >= 1 && day <= 31 && hh < 24 && mm < 60 && ss < 61 {
			t := time.Date(year, time.Month(month), day, hh, mm, ss, 0, time.UTC)
			if t.Day() == day { // no 31 Feb
				return t.Unix(), true
			}
		}
		return 0, false
	}
	t, err := http.ParseTime(unsafeString(d))
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func monthIndex(b []byte) int {
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	for i := 0; i < 12; i++ {
		if string(b) == months[3*i:3*i+3] {
			return i + 1
		}
	}
	return 0
}

func (h *HMACAuth) tooLarge(n int64) failure {
	return failure{status: 413, body: plugin.Message("request size " + strconv.FormatInt(n, 10) +
		" is greater than the maximum size " + strconv.FormatInt(h.maxBody, 10) + " allowed")}
}

// unsafeString views b as a string for a call that does not keep it (header lookups, parsing).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// macState is a keyed HMAC with room for its sum (a stack buffer would escape through the
// hash.Hash interface).
type macState struct {
	mac hash.Hash
	sum [sha512.Size]byte
}

// entry is one hmac-auth credential. Its MACs are pooled per algorithm so a request keys no new
// HMAC; a pool is not a lock shared across requests.
type entry struct {
	consumer *plugin.Consumer
	secret   []byte
	macs     [numAlgs]sync.Pool
}

func newEntry(cr *plugin.Consumer, secret string) *entry {
	e := &entry{consumer: cr, secret: []byte(secret)}
	for a := range e.macs {
		newHash := algHashes[a]
		e.macs[a].New = func() any { return &macState{mac: hmac.New(newHash, e.secret)} }
	}
	return e
}

// verify computes the HMAC of the signing string — keyId, then for each name of `headers`
// `<name>: <value>` when the request has that header, else `<METHOD> <request_uri>` for
// `@request-target`, else nothing; each line ending in "\n" — and compares it with the
// base64-decoded signature.
func (e *entry) verify(c plugin.Ctx, alg algorithm, p *params) bool {
	var sigBuf [sha512.Size]byte
	if len(p.signature) > 2*len(sigBuf) {
		return false // longer than any MAC in base64
	}
	sig, ok := decodeBase64(sigBuf[:0], p.signature)
	if !ok {
		return false
	}
	st := e.macs[alg].Get().(*macState)
	defer e.macs[alg].Put(st)
	mac := st.mac
	mac.Reset()
	mac.Write(p.keyID)
	mac.Write(newline)
	for name, rest, ok := nextName(p.headers); ok; name, rest, ok = nextName(rest) {
		if v, ok := c.Header(unsafeString(name)); ok {
			mac.Write(name)
			mac.Write(colonSpace)
			mac.Write(v)
			mac.Write(newline)
		} else if string(name) == "@request-target" {
			uri, _ := c.Lookup(&requestURI)
			if len(uri) == 0 {
				uri = slash
			}
			mac.Write(c.Method())
			mac.Write(space)
			mac.Write(uri)
			mac.Write(newline)
		}
	}
	return hmac.Equal(sig, mac.Sum(st.sum[:0]))
}

var (
	newline    = []byte{'\n'}
	colonSpace = []byte(": ")
	space      = []byte{' '}
	slash      = []byte{'/'}
)

// index is hmac-auth's credential index for one snapshot: key_id → credential, and every
// consumer seen by username for anonymous_consumer.
type index struct {
	keys  map[string]*entry
	names authconsumer.Names
}

// Index builds the index from every consumer and credential carrying hmac-auth. Entries without
// key_id or secret_key, or with an unresolvable `$env://` / `$secret://` reference, are skipped;
// on a duplicate key_id the last one wins, as in APISIX.
func Index(creds []plugin.Credential) (any, error) {
	ix := &index{keys: make(map[string]*entry, len(creds)), names: authconsumer.Names{}}
	for _, cr := range creds {
		ix.names.Add(cr.Consumer)
		if len(cr.Conf) == 0 || cr.Consumer == nil {
			continue
		}
		var cc struct {
			KeyID     *string `json:"key_id"`
			SecretKey *string `json:"secret_key"`
		}
		if json.Unmarshal(cr.Conf, &cc) != nil || cc.KeyID == nil || cc.SecretKey == nil {
			continue
		}
		keyID, ok1 := authconsumer.ResolveRef(*cc.KeyID)
		secret, ok2 := authconsumer.ResolveRef(*cc.SecretKey)
		if !ok1 || !ok2 {
			continue
		}
		ix.keys[keyID] = newEntry(cr.Consumer, secret)
	}
	return ix, nil
}

// lookup returns the credential of keyID, or the consumer-lookup error APISIX logs.
func (ix *index) lookup(keyID []byte) (*entry, string) {
	if ix == nil || len(ix.keys) == 0 {
		return nil, "Missing related consumer"
	}
	if e := ix.keys[string(keyID)]; e != nil {
		return e, ""
	}
	return nil, "Invalid key_id"
}

func (ix *index) byName(name string) *plugin.Consumer {
	if ix == nil {
		return nil
	}
	return ix.names[name]
}

var _ plugin.Rewriter = (*HMACAuth)(nil)
