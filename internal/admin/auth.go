package admin

import (
	"crypto/subtle"
	"net/http"
)

// authenticate checks the admin key as APISIX's check_token does: the key comes from the
// `api_key` query argument, else the X-API-KEY header, else the x_api_key cookie. It returns
// APISIX's description of the failure.
func (h *Handler) authenticate(r *http.Request) (string, bool) {
	if !h.o.KeyRequired || len(h.o.Keys) == 0 {
		return "", true
	}
	token, found := requestToken(r)
	if !found {
		return "missing apikey", false
	}
	// Compare against every key in constant time so the answer's timing tells nothing about
	// which key (or which prefix) came close.
	role, matched := "", false
	for _, k := range h.o.Keys {
		if subtle.ConstantTimeCompare([]byte(token), []byte(k.Key)) == 1 && !matched {
			role, matched = k.Role, true
		}
	}
	if !matched {
		return "wrong apikey", false
	}
	if role == "viewer" && r.Method != http.MethodGet {
		return "invalid method for role viewer", false
	}
	return "", true
}

func requestToken(r *http.Request) (string, bool) {
	if v, ok := r.URL.Query()["api_key"]; ok && len(v) > 0 {
		return v[0], true
	}
	if v := r.Header.Values("X-API-KEY"); len(v) > 0 {
		return v[0], true
	}
	if c, err := r.Cookie("x_api_key"); err == nil {
		return c.Value, true
	}
	return "", false
}
