package basicauth

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/authconsumer"
)

// Exit bodies (plugins.md §3 basic-auth, §3.0).
var (
	bodyMissing     = plugin.Message("Missing authorization in request")
	bodyInvalid     = plugin.Message("Invalid authorization in request")
	bodyInvalidUser = plugin.Message("Invalid user authorization")
)

// conf is the route-side conf with the schema defaults applied.
type conf struct {
	HideCredentials   bool   `json:"hide_credentials"`
	Realm             string `json:"realm"`
	AnonymousConsumer string `json:"anonymous_consumer"`
}

// BasicAuth is one compiled basic-auth conf.
type BasicAuth struct {
	hide      bool
	anonymous string
	wwwAuth   string
}

// New compiles a basic-auth conf.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	cf := conf{Realm: "basic"}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("basic-auth: %w", err)
		}
	}
	return &BasicAuth{
		hide:      cf.HideCredentials,
		anonymous: cf.AnonymousConsumer,
		wwwAuth:   `Basic realm="` + cf.Realm + `"`,
	}, nil
}

// Rewrite checks the Authorization header against the consumers' username and password.
func (b *BasicAuth) Rewrite(c plugin.Ctx) {
	ix, _ := c.Credentials().(*index)
	cr, body := b.authenticate(c, ix)
	if cr == nil && b.anonymous != "" {
		if cr = ix.byName(b.anonymous); cr == nil {
			body = bodyInvalidUser
		}
	}
	if cr == nil {
		c.SetRespHeader("WWW-Authenticate", b.wwwAuth)
		c.Exit(401, body)
		return
	}
	if b.hide {
		c.DelHeader("Authorization")
	}
	authconsumer.Attach(c, cr)
}

func (b *BasicAuth) authenticate(c plugin.Ctx, ix *index) (*plugin.Consumer, []byte) {
	h, ok := c.Header("Authorization")
	if !ok {
		return nil, bodyMissing
	}
	var buf [256]byte
	user, pass, ok := parseBasic(h, buf[:0])
	if !ok {
		return nil, bodyInvalid
	}
	e := ix.lookup(user)
	if e == nil || subtle.ConstantTimeCompare(e.password, pass) != 1 {
		return nil, bodyInvalidUser
	}
	return e.consumer, nil
}

// entry is one basic-auth credential.
type entry struct {
	consumer *plugin.Consumer
	password []byte
}

// index is basic-auth's credential index for one snapshot: username → credential, and every
// consumer seen by username for anonymous_consumer.
type index struct {
	users map[string]*entry
	names authconsumer.Names
}

// Index builds the index from every consumer and credential carrying basic-auth. Entries
// without a username or password, or with an unresolvable `$env://` / `$secret://` reference,
// are skipped; on a duplicate username the last one wins, as in APISIX.
func Index(creds []plugin.Credential) (any, error) {
	ix := &index{users: make(map[string]*entry, len(creds)), names: authconsumer.Names{}}
	for _, cr := range creds {
		ix.names.Add(cr.Consumer)
		if len(cr.Conf) == 0 || cr.Consumer == nil {
			continue
		}
		var cc struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		if json.Unmarshal(cr.Conf, &cc) != nil || cc.Username == nil || cc.Password == nil {
			continue
		}
		user, ok1 := authconsumer.ResolveRef(*cc.Username)
		pass, ok2 := authconsumer.ResolveRef(*cc.Password)
		if !ok1 || !ok2 {
			continue
		}
		ix.users[user] = &entry{consumer: cr.Consumer, password: []byte(pass)}
	}
	return ix, nil
}

func (ix *index) lookup(user []byte) *entry {
	if ix == nil {
		return nil
	}
	return ix.users[string(user)]
}

func (ix *index) byName(name string) *plugin.Consumer {
	if ix == nil {
		return nil
	}
	return ix.names[name]
}

var _ plugin.Rewriter = (*BasicAuth)(nil)
