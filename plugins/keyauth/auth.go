package keyauth

import (
	"encoding/json"
	"fmt"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/authconsumer"
)

// Exit bodies (plugins.md §3 key-auth, §3.0).
var (
	bodyMissingKey  = plugin.Message("Missing API key in request")
	bodyInvalidKey  = plugin.Message("Invalid API key in request")
	bodyInvalidUser = plugin.Message("Invalid user authorization")
)

// conf is the route-side conf with the schema defaults applied.
type conf struct {
	Header            string `json:"header"`
	Query             string `json:"query"`
	HideCredentials   bool   `json:"hide_credentials"`
	Realm             string `json:"realm"`
	AnonymousConsumer string `json:"anonymous_consumer"`
}

// KeyAuth is one compiled key-auth conf.
type KeyAuth struct {
	header, query string
	hide          bool
	anonymous     string
	wwwAuth       string // WWW-Authenticate value, built once
}

// New compiles a key-auth conf.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	cf := conf{Header: "apikey", Query: "apikey", Realm: "key"}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("key-auth: %w", err)
		}
	}
	return &KeyAuth{
		header:    cf.Header,
		query:     cf.Query,
		hide:      cf.HideCredentials,
		anonymous: cf.AnonymousConsumer,
		wwwAuth:   `apikey realm="` + cf.Realm + `"`,
	}, nil
}

// Rewrite takes the key from the header, else from the query argument (an empty header value
// is a present, wrong key), and attaches the consumer holding it.
func (k *KeyAuth) Rewrite(c plugin.Ctx) {
	ix, _ := c.Credentials().(*index)
	key, fromHeader := c.Header(k.header)
	found := fromHeader
	if !found {
		key, found = c.Arg(k.query)
	}
	if !found {
		k.fail(c, ix, bodyMissingKey)
		return
	}
	cr := ix.lookup(key)
	if cr == nil {
		k.fail(c, ix, bodyInvalidKey)
		return
	}
	if k.hide {
		if fromHeader {
			c.DelHeader(k.header)
		} else {
			c.DelArg(k.query)
		}
	}
	authconsumer.Attach(c, cr)
}

// fail falls back to the anonymous consumer when one is configured, else answers 401.
func (k *KeyAuth) fail(c plugin.Ctx, ix *index, body []byte) {
	if k.anonymous != "" {
		if cr := ix.byName(k.anonymous); cr != nil {
			if k.hide {
				c.DelHeader(k.header)
				c.DelArg(k.query)
			}
			authconsumer.Attach(c, cr)
			return
		}
		body = bodyInvalidUser
	}
	c.SetRespHeader("WWW-Authenticate", k.wwwAuth)
	c.Exit(401, body)
}

// index is key-auth's credential index for one snapshot: key → consumer, and every consumer
// seen by username for anonymous_consumer.
type index struct {
	keys  map[string]*plugin.Consumer
	names authconsumer.Names
}

// Index builds the index from every consumer and credential carrying key-auth. Entries without
// a key, or whose key is an unresolvable `$env://` / `$secret://` reference, are skipped; on a
// duplicate key the last one wins, as in APISIX.
func Index(creds []plugin.Credential) (any, error) {
	ix := &index{keys: make(map[string]*plugin.Consumer, len(creds)), names: authconsumer.Names{}}
	for _, cr := range creds {
		ix.names.Add(cr.Consumer)
		if len(cr.Conf) == 0 || cr.Consumer == nil {
			continue
		}
		var cc struct {
			Key *string `json:"key"`
		}
		if json.Unmarshal(cr.Conf, &cc) != nil || cc.Key == nil {
			continue
		}
		key, ok := authconsumer.ResolveRef(*cc.Key)
		if !ok {
			continue
		}
		ix.keys[key] = cr.Consumer
	}
	return ix, nil
}

func (ix *index) lookup(key []byte) *plugin.Consumer {
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

var _ plugin.Rewriter = (*KeyAuth)(nil)
