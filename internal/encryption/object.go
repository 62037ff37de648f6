package encryption

import (
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// operation transforms one stored string; ok=false leaves the value as it was.
type operation func(s string) (out string, ok bool, err error)

// EncryptObject encrypts, in place, the fields APISIX encrypts in a resource of kind: every
// plugin conf's encrypt_fields (consumer/credential auth confs included), an SSL's key/keys and
// an upstream's tls.client_key (also inline upstreams of routes, services and stream routes).
// Plugins that are not registered are left alone, as APISIX does with unknown plugin names.
func (k *Keyring) EncryptObject(kind model.Kind, obj map[string]any) error {
	return k.walkObject(kind, obj, k.encryptField, k.encryptPrivateKey)
}

// DecryptObject reverses EncryptObject; a field that does not decrypt is left as it is.
// It decrypts upstream client keys too, which APISIX's Admin API GET shows still encrypted.
func (k *Keyring) DecryptObject(kind model.Kind, obj map[string]any) {
	// The operations never return an error when decrypting: failures keep the stored value.
	_ = k.walkObject(kind, obj, k.decryptField, k.decryptPrivateKey)
}

// EncryptConf encrypts the dotted encrypt_fields paths of one plugin conf in place (e.g. for
// plugin_metadata, whose fields come from the plugin's metadata schema).
func (k *Keyring) EncryptConf(fields []string, conf map[string]any) error {
	for _, f := range fields {
		if err := walkPath(conf, strings.Split(f, "."), k.encryptField); err != nil {
			return fmt.Errorf("encrypt field %q: %w", f, err)
		}
	}
	return nil
}

// DecryptConf reverses EncryptConf; values that do not decrypt are left as they are.
func (k *Keyring) DecryptConf(fields []string, conf map[string]any) {
	for _, f := range fields {
		_ = walkPath(conf, strings.Split(f, "."), k.decryptField)
	}
}

func (k *Keyring) walkObject(kind model.Kind, obj map[string]any, field, pkey operation) error {
	if obj == nil {
		return nil
	}
	switch kind {
	case model.Routes, model.Services, model.StreamRoutes:
		if up, ok := obj["upstream"].(map[string]any); ok {
			if err := upstreamClientKey(up, pkey); err != nil {
				return fmt.Errorf("upstream: %w", err)
			}
		}
		return k.plugins(obj, field)
	case model.PluginConfigs, model.GlobalRules, model.ConsumerGroups, model.Consumers, model.Credentials:
		return k.plugins(obj, field)
	case model.Upstreams:
		return upstreamClientKey(obj, pkey)
	case model.SSLs:
		if err := applyLeaf(obj, "key", pkey); err != nil {
			return fmt.Errorf("ssl key: %w", err)
		}
		if err := applyLeaf(obj, "keys", pkey); err != nil {
			return fmt.Errorf("ssl keys: %w", err)
		}
	}
	return nil
}

// plugins applies op to every registered plugin's encrypt_fields. APISIX uses the consumer_schema
// on consumers and credentials (falling back to schema); both carry the same encrypt_fields.
func (k *Keyring) plugins(obj map[string]any, op operation) error {
	if k.noPluginFields {
		return nil
	}
	plugins, _ := obj["plugins"].(map[string]any)
	for name, raw := range plugins {
		conf, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		def, ok := plugin.Lookup(name)
		if !ok {
			continue
		}
		for _, f := range def.EncryptFields {
			if err := walkPath(conf, strings.Split(f, "."), op); err != nil {
				return fmt.Errorf("plugin %s: field %s: %w", name, f, err)
			}
		}
	}
	return nil
}

func upstreamClientKey(up map[string]any, pkey operation) error {
	tls, ok := up["tls"].(map[string]any)
	if !ok {
		return nil
	}
	if err := applyLeaf(tls, "client_key", pkey); err != nil {
		return fmt.Errorf("tls.client_key: %w", err)
	}
	return nil
}

// walkPath follows APISIX's process_encrypt_field: intermediate segments descend into objects
// and into every object element of arrays; the leaf may be a string, a string array or a
// string map. Missing or mistyped segments are skipped silently.
func walkPath(conf map[string]any, path []string, op operation) error {
	if len(path) == 1 {
		return applyLeaf(conf, path[0], op)
	}
	switch v := conf[path[0]].(type) {
	case map[string]any:
		return walkPath(v, path[1:], op)
	case []any:
		for _, item := range v {
			if m, ok := item.(map[string]any); ok {
				if err := walkPath(m, path[1:], op); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func applyLeaf(conf map[string]any, key string, op operation) error {
	switch v := conf[key].(type) {
	case string:
		out, ok, err := op(v)
		if err != nil {
			return err
		}
		if ok {
			conf[key] = out
		}
	case []any:
		for i, item := range v {
			if s, isStr := item.(string); isStr {
				out, ok, err := op(s)
				if err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
				if ok {
					v[i] = out
				}
			}
		}
	case map[string]any:
		for name, item := range v {
			if s, isStr := item.(string); isStr {
				out, ok, err := op(s)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if ok {
					v[name] = out
				}
			}
		}
	}
	return nil
}

// encryptField encrypts a plugin field. APISIX would encrypt a `$secret://` reference too; Sluice
// keeps references readable (APISIX reading them back fails base64 and uses them as they are).
func (k *Keyring) encryptField(s string) (string, bool, error) {
	if isSecretRef(s) {
		return s, false, nil
	}
	out, err := k.Encrypt(s)
	return out, err == nil, err
}

func (k *Keyring) decryptField(s string) (string, bool, error) {
	if isSecretRef(s) {
		return s, false, nil
	}
	out, err := k.Decrypt(s)
	return out, err == nil, nil
}

// encryptPrivateKey follows ssl.lua aes_encrypt_pkey: only a PEM key in clear is encrypted, so a
// reference or an already encrypted key passes through unchanged.
func (k *Keyring) encryptPrivateKey(s string) (string, bool, error) {
	if !isPEM(s) {
		return s, false, nil
	}
	out, err := k.Encrypt(s)
	return out, err == nil, err
}

func (k *Keyring) decryptPrivateKey(s string) (string, bool, error) {
	if isPEM(s) || isSecretRef(s) {
		return s, false, nil
	}
	out, err := k.Decrypt(s)
	return out, err == nil, nil
}
