package jwtauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/authconsumer"
)

// Exit bodies (plugins.md §3 jwt-auth, §3.0).
var (
	bodyMissingToken = plugin.Message("Missing JWT token in request")
	bodyInvalidToken = plugin.Message("JWT token invalid")
	bodyMissingKey   = plugin.Message("missing user key in JWT token")
	bodyInvalidKey   = plugin.Message("Invalid user key in JWT token")
	bodyVerifyFailed = plugin.Message("failed to verify jwt")
	bodyInvalidUser  = plugin.Message("Invalid user authorization")
)

// PayloadKey is the Ctx.Get key under which a verified token's payload (JSON, a
// json.RawMessage copy) is kept when store_in_ctx is set, APISIX's ctx.jwt_auth_payload.
const PayloadKey = "jwt_auth_payload"

// conf is the route-side conf with the schema defaults applied.
type conf struct {
	Header            string   `json:"header"`
	Query             string   `json:"query"`
	Cookie            string   `json:"cookie"`
	HideCredentials   bool     `json:"hide_credentials"`
	KeyClaimName      string   `json:"key_claim_name"`
	StoreInCtx        bool     `json:"store_in_ctx"`
	Realm             string   `json:"realm"`
	AnonymousConsumer string   `json:"anonymous_consumer"`
	ClaimsToVerify    []string `json:"claims_to_verify"`
}

// JWTAuth is one compiled jwt-auth conf.
type JWTAuth struct {
	header, query, cookie string
	hide, storeInCtx      bool
	keyClaim              string
	anonymous             string
	wwwAuth               string
	verifyExp, verifyNbf  bool
	now                   func() int64
}

// New compiles a jwt-auth conf.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	cf := conf{Header: "authorization", Query: "jwt", Cookie: "jwt", KeyClaimName: "key", Realm: "jwt"}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("jwt-auth: %w", err)
		}
	}
	j := &JWTAuth{
		header: cf.Header, query: cf.Query, cookie: cf.Cookie,
		hide: cf.HideCredentials, storeInCtx: cf.StoreInCtx,
		keyClaim:  cf.KeyClaimName,
		anonymous: cf.AnonymousConsumer,
		wwwAuth:   `Bearer realm="` + cf.Realm + `"`,
		now:       func() int64 { return time.Now().Unix() },
	}
	for _, c := range cf.ClaimsToVerify {
		switch c {
		case "exp":
			j.verifyExp = true
		case "nbf":
			j.verifyNbf = true
		}
	}
	return j, nil
}

// source says where the token was found.
type source uint8

const (
	fromNone source = iota
	fromHeader
	fromQuery
	fromCookie
)

// bufs holds decode buffers; a pool, not a shared lock, so requests never contend.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Rewrite verifies the token against the consumer its key claim names.
func (j *JWTAuth) Rewrite(c plugin.Ctx) {
	ix, _ := c.Credentials().(*index)
	tok, src := j.fetch(c)
	var (
		cr   *credential
		body []byte
	)
	if src == fromNone {
		body = bodyMissingToken
	} else {
		bp := bufs.Get().(*[]byte)
		cr, body = j.authenticate(c, ix, tok, bp)
		bufs.Put(bp)
	}
	// The token is hidden wherever it was found, whatever the outcome (APISIX strips it while
	// fetching, before validation).
	if j.hide {
		j.strip(c, src)
	}
	var cons *plugin.Consumer
	if cr != nil {
		cons = cr.consumer
	} else if j.anonymous != "" {
		if cons = ix.byName(j.anonymous); cons == nil {
			body = bodyInvalidUser
		}
	}
	if cons == nil {
		c.SetRespHeader("WWW-Authenticate", j.wwwAuth)
		c.Exit(401, body)
		return
	}
	authconsumer.Attach(c, cons)
}

// fetch takes the token from the header (a leading "Bearer " or "bearer " removed), else the
// query argument, else the cookie.
func (j *JWTAuth) fetch(c plugin.Ctx) ([]byte, source) {
	if v, ok := c.Header(j.header); ok {
		if len(v) >= 7 && (string(v[:7]) == "Bearer " || string(v[:7]) == "bearer ") {
			v = v[7:]
		}
		return v, fromHeader
	}
	if v, ok := c.Arg(j.query); ok {
		return v, fromQuery
	}
	if v, ok := c.Cookie(j.cookie); ok {
		return v, fromCookie
	}
	return nil, fromNone
}

func (j *JWTAuth) authenticate(c plugin.Ctx, ix *index, tok []byte, bp *[]byte) (*credential, []byte) {
	need := 2*len(tok) + 256 // decoded header+payload, then signature and digest
	if cap(*bp) < need {
		*bp = make([]byte, 0, need)
	}
	buf := (*bp)[:cap(*bp)]
	t, ok := parseToken(tok, buf)
	if !ok {
		return nil, bodyInvalidToken
	}
	cl := readClaims(t.payload, j.keyClaim)
	if !cl.keyPresent {
		return nil, bodyMissingKey
	}
	cr := ix.lookup(cl.key)
	if cr == nil {
		return nil, bodyInvalidKey
	}
	used := len(tok) // header and payload decode to fewer bytes than the token holds
	if !cr.verify(&t, buf[used:used]) || !validClaims(&cl, j.verifyExp, j.verifyNbf, j.now(), cr.grace) {
		return nil, bodyVerifyFailed
	}
	if j.storeInCtx {
		c.Set(PayloadKey, json.RawMessage(bytes.Clone(t.payload)))
	}
	return cr, nil
}

// strip removes the token from where it was found.
func (j *JWTAuth) strip(c plugin.Ctx, src source) {
	switch src {
	case fromHeader:
		c.DelHeader(j.header)
	case fromQuery:
		c.DelArg(j.query)
	case fromCookie:
		h, _ := c.Header("Cookie")
		c.SetHeader("Cookie", withoutCookie(string(h), j.cookie))
	}
}

// withoutCookie rebuilds a Cookie header from its name=value pairs minus the named cookie,
// joined with "; ", as APISIX does for hide_credentials.
func withoutCookie(h, name string) string {
	var b strings.Builder
	for pair := range strings.SplitSeq(h, ";") {
		pair = strings.TrimSpace(pair)
		k, _, ok := strings.Cut(pair, "=")
		if !ok || k == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pair)
	}
	return b.String()
}

var _ plugin.Rewriter = (*JWTAuth)(nil)
