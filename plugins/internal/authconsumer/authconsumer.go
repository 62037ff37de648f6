// Package authconsumer holds what APISIX's auth plugins share around consumers (plugins.md §3.0):
// the by-name table behind anonymous_consumer, `$env://` resolution of credential fields, and
// attach_consumer's upstream identity headers.
package authconsumer

import (
	"encoding/json"
	"os"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Names maps usernames to consumers for anonymous_consumer. The SDK hands Index only the
// consumers that carry the plugin; a Credential with an empty Conf registers a consumer by name
// without a credential, so a runtime can also expose credential-less anonymous consumers.
type Names map[string]*plugin.Consumer

// Add registers the consumer of cr under its username, preferring a consumer-level identity
// (no CredentialID) because the anonymous consumer is the consumer, not one of its credentials.
func (m Names) Add(cr *plugin.Consumer) {
	if cr == nil || cr.Username == "" {
		return
	}
	if cr.CredentialID == "" {
		m[cr.Username] = cr
		return
	}
	if _, ok := m[cr.Username]; !ok {
		cp := *cr
		cp.CredentialID = ""
		m[cr.Username] = &cp
	}
}

// ResolveRef resolves a `$env://NAME` or `$env://NAME/field` reference the way APISIX's
// secret.fetch_secrets does; ok is false when s is a reference that cannot be resolved here
// (unset variable, `$secret://`), and such a credential is skipped (fail closed).
func ResolveRef(s string) (string, bool) {
	const envPrefix = "$ENV://"
	if len(s) >= len(envPrefix) && strings.EqualFold(s[:len(envPrefix)], envPrefix) {
		name, field, sub := strings.Cut(s[len(envPrefix):], "/")
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", false
		}
		if !sub {
			return v, true
		}
		var obj map[string]any
		if json.Unmarshal([]byte(v), &obj) != nil {
			return "", false
		}
		str, ok := obj[field].(string)
		return str, ok
	}
	if strings.HasPrefix(s, "$secret://") {
		return "", false
	}
	return s, true
}

// Attach does what APISIX's consumer.attach_consumer does: record the consumer and set the
// identity headers sent upstream, removing client-sent copies that do not apply.
func Attach(c plugin.Ctx, cr *plugin.Consumer) {
	c.AttachConsumer(cr)
	c.SetHeader("X-Consumer-Username", cr.Username)
	if cr.CredentialID != "" {
		c.SetHeader("X-Credential-Identifier", cr.CredentialID)
	} else {
		c.DelHeader("X-Credential-Identifier")
	}
	if id, ok := cr.Labels["custom_id"]; ok {
		c.SetHeader("X-Consumer-Custom-ID", id)
	} else {
		c.DelHeader("X-Consumer-Custom-ID")
	}
}
