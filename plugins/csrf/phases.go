package csrf

import (
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

type conf struct {
	Key     string `json:"key"`
	Expires int64  `json:"expires"`
	Name    string `json:"name"`
}

// CSRF is one compiled csrf conf.
type CSRF struct {
	key     string
	expires int64
	name    string
	cookie  plugin.Var // cookie_<name>

	now    func() time.Time // replaced in tests
	random func() float64   // [0,1), as LuaJIT's math.random
}

// Exit bodies (plugins.md §4 csrf).
var (
	errNoHeader = plugin.JSON(map[string]string{"error_msg": "no csrf token in headers"})
	errNoCookie = plugin.JSON(map[string]string{"error_msg": "no csrf cookie"})
	errMismatch = plugin.JSON(map[string]string{"error_msg": "csrf token mismatch"})
	errVerify   = plugin.JSON(map[string]string{"error_msg": "Failed to verify the csrf token signature"})
)

// New compiles a conf (plugins.md §4 csrf), applying the schema defaults. key arrives
// decrypted.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	c := conf{Expires: 7200, Name: "apisix-csrf-token"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &CSRF{key: c.Key, expires: c.Expires, name: c.Name,
		cookie: plugin.Var{Kind: plugin.VarCookie, Name: c.Name},
		now:    time.Now, random: rand.Float64}, nil
}

// Access lets safe methods through and checks the double-submitted token on the others.
func (p *CSRF) Access(c plugin.Ctx) {
	switch string(c.Method()) {
	case "GET", "HEAD", "OPTIONS":
		return
	}
	header, ok := c.Header(p.name)
	if !ok || len(header) == 0 {
		c.Exit(401, errNoHeader)
		return
	}
	cookie, ok := c.Lookup(&p.cookie)
	if !ok {
		c.Exit(401, errNoCookie)
		return
	}
	if string(header) != string(cookie) {
		c.Exit(401, errMismatch)
		return
	}
	if !verify(cookie, p.key, p.expires, p.now().Unix()) {
		c.Exit(401, errVerify)
	}
}

// HeaderFilter adds a fresh token cookie to every response.
func (p *CSRF) HeaderFilter(c plugin.Ctx) {
	now := p.now()
	var buf [384]byte
	b := append(buf[:0], p.name...)
	b = append(b, '=')
	b = appendToken(b, p.random(), now.Unix(), p.key)
	b = append(b, ";path=/;SameSite=Lax;Expires="...)
	b = appendCookieTime(b, now.Add(time.Duration(p.expires)*time.Second))
	c.AddRespHeader("Set-Cookie", string(b))
}

var (
	_ plugin.Accessor       = (*CSRF)(nil)
	_ plugin.HeaderFilterer = (*CSRF)(nil)
)
