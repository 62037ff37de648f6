package admin

import (
	"context"
	"sort"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
)

// credentialAttrs is the attribute each auth plugin looks consumers up by; two consumers (or
// credentials) may not share a value (APISIX's plugin_key_map, enforced since 3.18).
var credentialAttrs = map[string]string{
	"key-auth":   "key",
	"basic-auth": "username",
	"jwt-auth":   "key",
	"hmac-auth":  "key_id",
}

// authEntry is one stored consumer or credential seen by the uniqueness check.
type authEntry struct {
	username     string // owning consumer
	credentialID string // "" for the consumer object itself
	plugins      map[string]any
}

// checkDuplicateKeys refuses a consumer (username set) or a credential (credConsumer and
// credID set) whose auth key is already held by another consumer or that consumer's
// credentials. A consumer and its own credentials may share a key (APISIX's credentials.t adds
// a basic-auth credential identical to its consumer's). Stored values are compared decrypted.
func (h *Handler) checkDuplicateKeys(ctx context.Context, obj map[string]any, username, credConsumer, credID string) *errResponse {
	plugins, _ := obj["plugins"].(map[string]any)
	wanted := map[string]string{} // plugin -> value
	for name, attr := range credentialAttrs {
		conf, _ := plugins[name].(map[string]any)
		if v, ok := conf[attr].(string); ok && v != "" && !isSecretRef(v) {
			wanted[name] = v
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	entries, err := h.authEntries(ctx)
	if err != nil {
		return storeError(err)
	}
	names := make([]string, 0, len(wanted))
	for n := range wanted {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		attr := credentialAttrs[name]
		for _, e := range entries {
			if username != "" && e.username == username {
				continue
			}
			if credID != "" && e.username == credConsumer {
				continue
			}
			conf, _ := e.plugins[name].(map[string]any)
			if v, _ := conf[attr].(string); v != wanted[name] {
				continue
			}
			if e.credentialID != "" {
				return badRequest("duplicate %s of plugin %s found with credential: %s of consumer: %s",
					attr, name, e.credentialID, e.username)
			}
			return badRequest("duplicate %s of plugin %s found with consumer: %s", attr, name, e.username)
		}
	}
	return nil
}

// authEntries reads every consumer and credential, decrypted.
func (h *Handler) authEntries(ctx context.Context) ([]authEntry, error) {
	dir := h.prefix + "/consumers/"
	kvs, _, err := h.o.Store.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []authEntry
	for _, kv := range kvs {
		parts := strings.Split(strings.TrimPrefix(kv.Key, dir), "/")
		var e authEntry
		kind := model.Consumers
		switch {
		case len(parts) == 1 && parts[0] != "":
			e.username = parts[0]
		case len(parts) == 3 && parts[1] == "credentials" && parts[2] != "":
			e.username, e.credentialID, kind = parts[0], parts[2], model.Credentials
		default:
			continue
		}
		obj, ok := decodeValue(kv.Value).(map[string]any)
		if !ok {
			continue
		}
		if h.o.Keyring != nil {
			h.o.Keyring.DecryptObject(kind, obj)
		}
		e.plugins, _ = obj["plugins"].(map[string]any)
		out = append(out, e)
	}
	return out, nil
}

// isSecretRef: values still naming a secret are resolved at runtime, not compared here.
func isSecretRef(v string) bool {
	return strings.HasPrefix(v, "$secret://") || strings.HasPrefix(strings.ToLower(v), "$env://")
}
