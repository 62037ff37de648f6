package encryption

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// Fake plugin types: the real definitions live in plugins/<name> and are not linked here.
func init() {
	plugin.Register(plugin.Definition{Name: "test-enc-auth", Type: "auth", EncryptFields: []string{"key"}})
	plugin.Register(plugin.Definition{Name: "test-enc-nested", EncryptFields: []string{
		"redis.password", "brokers.sasl_config.password", "headers", "secrets", "absent.path",
	}})
	plugin.Register(plugin.Definition{Name: "test-enc-none"})
}

// Known answers computed with
// `printf %s "$plain" | openssl enc -aes-<bits>-cbc -K <hex key> -iv <hex key[:16]> -base64 -A`.
const aes256Key = "0123456789abcdef0123456789abcdef"

func TestEncryptKnownAnswers(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		plain string
		want  string
	}{
		{"default keyring, empty", DefaultKeyring, "", "CEGh183MAO3X8/ZV2jzHeA=="},
		{"default keyring, short", DefaultKeyring, "auth-one", "4y+JvURBE6ZwRbbgaryrhg=="},
		{"default keyring, one full block adds a padding block", DefaultKeyring, "exactly16bytes!!",
			"PYi8QQ4MOPtw+IV5IhckBZ4FyfzaRgA8NpJoqgvIUSU="},
		{"default keyring, two blocks", DefaultKeyring, "jack-secret-key-32bytes-long....",
			"LdknGkpnBiqA1E4KxOesb9wmB+ntQiIOjBZsVwWqBgEIc8ehO//YhjxGD4c/u7ca"},
		{"default keyring, utf-8", DefaultKeyring, "héllo/wörld", "BjCWyqehsLp8WKpfvRj64A=="},
		{"second default key alone", DefaultKeyring[1:], "auth-one", "RjeV6km+KxQJN2rfu8Y7aA=="},
		{"aes-256 key", []string{aes256Key}, "auth-one", "jMinfe2nNUgjwW02ZBFULg=="},
		{"aes-256 key, two blocks", []string{aes256Key}, "jack-secret-key-32bytes-long....",
			"x4iIC8tsG4TP5SNtexTe36L6gEmEBj77lEhvLtk8AbzfrMQcVHsWmXwq2zjqE+H9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKeyring(t, tt.keys)
			got, err := k.Encrypt(tt.plain)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if got != tt.want {
				t.Errorf("Encrypt(%q) = %q, want %q", tt.plain, got, tt.want)
			}
			back, err := k.Decrypt(got)
			if err != nil || back != tt.plain {
				t.Errorf("Decrypt(%q) = %q, %v; want %q", got, back, err, tt.plain)
			}
		})
	}
}

func TestDecrypt(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		in      string
		want    string
		wantErr bool
	}{
		{"first key", DefaultKeyring, "4y+JvURBE6ZwRbbgaryrhg==", "auth-one", false},
		{"falls back to the second key", DefaultKeyring, "RjeV6km+KxQJN2rfu8Y7aA==", "auth-one", false},
		{"rotated keyring reads data of the old first key", []string{"edd1c9f0985e76a2", "qeddd145sfvddff3"},
			"4y+JvURBE6ZwRbbgaryrhg==", "auth-one", false},
		{"unpadded base64 as ngx.decode_base64 accepts", DefaultKeyring, "4y+JvURBE6ZwRbbgaryrhg", "auth-one", false},
		{"aes-256", []string{aes256Key}, "jMinfe2nNUgjwW02ZBFULg==", "auth-one", false},
		{"no key matches", []string{aes256Key}, "4y+JvURBE6ZwRbbgaryrhg==", "", true},
		{"plain text is not base64", DefaultKeyring, "auth-one!", "", true},
		{"base64 but not whole blocks", DefaultKeyring, "YXV0aC1vbmU=", "", true},
		{"empty", DefaultKeyring, "", "", true},
		{"empty keyring returns the value", nil, "4y+JvURBE6ZwRbbgaryrhg==", "4y+JvURBE6ZwRbbgaryrhg==", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustKeyring(t, tt.keys).Decrypt(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("Decrypt(%q) = %q, %v; want ErrDecrypt", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Decrypt(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEmptyKeyringStoresInClear(t *testing.T) {
	got, err := mustKeyring(t, nil).Encrypt("auth-one")
	if err != nil || got != "auth-one" {
		t.Errorf("Encrypt with no keys = %q, %v; want the plain value", got, err)
	}
}

func TestNewKeyringRejectsWrongLength(t *testing.T) {
	for _, keys := range [][]string{{"short"}, {"qeddd145sfvddff3", "0123456789abcdef0123456789"}, {""}} {
		if _, err := NewKeyring(keys); err == nil || !strings.Contains(err.Error(), "16 or 32 bytes") {
			t.Errorf("NewKeyring(%q) error = %v, want a key length error", keys, err)
		}
	}
}

const testPEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"

func TestEncryptObject(t *testing.T) {
	k := mustKeyring(t, DefaultKeyring)
	enc := func(s string) string {
		out, err := k.Encrypt(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name string
		kind model.Kind
		in   string
		want string
	}{
		{"consumer auth conf", model.Consumers,
			`{"username":"jack","plugins":{"test-enc-auth":{"key":"auth-one"}}}`,
			`{"username":"jack","plugins":{"test-enc-auth":{"key":"` + enc("auth-one") + `"}}}`},
		{"credential", model.Credentials,
			`{"id":"c1","plugins":{"test-enc-auth":{"key":"auth-one"}}}`,
			`{"id":"c1","plugins":{"test-enc-auth":{"key":"` + enc("auth-one") + `"}}}`},
		{"route: nested object, array of objects, string map, string array", model.Routes,
			`{"uri":"/a","plugins":{"test-enc-nested":{
				"redis":{"password":"p1","host":"h"},
				"brokers":[{"sasl_config":{"password":"p2"}},{"host":"no-sasl"},"not-an-object"],
				"headers":{"Authorization":"Bearer x","X-Count":3},
				"secrets":["s1","s2",7]}}}`,
			`{"uri":"/a","plugins":{"test-enc-nested":{
				"redis":{"password":"` + enc("p1") + `","host":"h"},
				"brokers":[{"sasl_config":{"password":"` + enc("p2") + `"}},{"host":"no-sasl"},"not-an-object"],
				"headers":{"Authorization":"` + enc("Bearer x") + `","X-Count":3},
				"secrets":["` + enc("s1") + `","` + enc("s2") + `",7]}}}`},
		{"secret and env references stay readable", model.Consumers,
			`{"username":"jack","plugins":{"test-enc-auth":{"key":"$secret://vault/1/jack/key"},
				"test-enc-nested":{"redis":{"password":"$ENV://REDIS_PASSWORD"}}}}`,
			`{"username":"jack","plugins":{"test-enc-auth":{"key":"$secret://vault/1/jack/key"},
				"test-enc-nested":{"redis":{"password":"$ENV://REDIS_PASSWORD"}}}}`},
		{"unknown plugin, plugin without fields and non-object conf untouched", model.Services,
			`{"plugins":{"not-registered":{"key":"k"},"test-enc-none":{"key":"k"},"test-enc-auth":true}}`,
			`{"plugins":{"not-registered":{"key":"k"},"test-enc-none":{"key":"k"},"test-enc-auth":true}}`},
		{"mistyped intermediate segment skipped", model.GlobalRules,
			`{"plugins":{"test-enc-nested":{"redis":"p1","brokers":{"sasl_config":"x"}}}}`,
			`{"plugins":{"test-enc-nested":{"redis":"p1","brokers":{"sasl_config":"x"}}}}`},
		{"PluginConfigs plugins", model.PluginConfigs,
			`{"plugins":{"test-enc-auth":{"key":"a"}}}`,
			`{"plugins":{"test-enc-auth":{"key":"` + enc("a") + `"}}}`},
		{"ConsumerGroups plugins", model.ConsumerGroups,
			`{"plugins":{"test-enc-auth":{"key":"a"}}}`,
			`{"plugins":{"test-enc-auth":{"key":"` + enc("a") + `"}}}`},
		{"StreamRoutes plugins", model.StreamRoutes,
			`{"plugins":{"test-enc-auth":{"key":"a"}}}`,
			`{"plugins":{"test-enc-auth":{"key":"` + enc("a") + `"}}}`},
		{"ssl: PEM keys encrypted, references and encrypted keys pass through", model.SSLs,
			`{"cert":"c","key":` + jsonString(testPEM) + `,"keys":[` + jsonString(testPEM) + `,"$secret://vault/1/k","QUJD"]}`,
			`{"cert":"c","key":"` + enc(testPEM) + `","keys":["` + enc(testPEM) + `","$secret://vault/1/k","QUJD"]}`},
		{"ssl: plugin-like fields are not plugins", model.SSLs,
			`{"plugins":{"test-enc-auth":{"key":"a"}}}`,
			`{"plugins":{"test-enc-auth":{"key":"a"}}}`},
		{"upstream tls.client_key", model.Upstreams,
			`{"tls":{"client_cert":"c","client_key":` + jsonString(testPEM) + `}}`,
			`{"tls":{"client_cert":"c","client_key":"` + enc(testPEM) + `"}}`},
		{"route inline upstream client key", model.Routes,
			`{"upstream":{"tls":{"client_key":` + jsonString(testPEM) + `}}}`,
			`{"upstream":{"tls":{"client_key":"` + enc(testPEM) + `"}}}`},
		{"plugin_metadata untouched", model.PluginMetadata,
			`{"key":"a","log_format":{"host":"$host"}}`,
			`{"key":"a","log_format":{"host":"$host"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decode(t, tt.in)
			if err := k.EncryptObject(tt.kind, obj); err != nil {
				t.Fatalf("EncryptObject: %v", err)
			}
			if want := decode(t, tt.want); !reflect.DeepEqual(obj, want) {
				t.Fatalf("EncryptObject:\n got %s\nwant %s", encode(t, obj), encode(t, want))
			}
			k.DecryptObject(tt.kind, obj)
			if orig := decode(t, tt.in); !reflect.DeepEqual(obj, orig) {
				t.Errorf("DecryptObject did not restore the object:\n got %s\nwant %s", encode(t, obj), encode(t, orig))
			}
		})
	}
}

func TestDecryptObjectLeavesUndecryptableValues(t *testing.T) {
	k := mustKeyring(t, DefaultKeyring)
	other := mustKeyring(t, []string{aes256Key})
	foreign, err := other.Encrypt("auth-one")
	if err != nil {
		t.Fatal(err)
	}
	second := "RjeV6km+KxQJN2rfu8Y7aA==" // "auth-one" under the second default key
	obj := decode(t, `{"username":"jack","plugins":{
		"test-enc-auth":{"key":"`+foreign+`"},
		"test-enc-nested":{"headers":{"a":"plain text!","b":"`+second+`"}}}}`)
	k.DecryptObject(model.Consumers, obj)
	want := decode(t, `{"username":"jack","plugins":{
		"test-enc-auth":{"key":"`+foreign+`"},
		"test-enc-nested":{"headers":{"a":"plain text!","b":"auth-one"}}}}`)
	if !reflect.DeepEqual(obj, want) {
		t.Errorf("got %s\nwant %s", encode(t, obj), encode(t, want))
	}

	ssl := decode(t, `{"key":`+jsonString(testPEM)+`,"keys":["not base64!"]}`)
	k.DecryptObject(model.SSLs, ssl)
	if ssl["key"] != testPEM || ssl["keys"].([]any)[0] != "not base64!" {
		t.Errorf("SSL keys changed: %v", ssl)
	}
}

func TestWithEncryptFieldsDisabled(t *testing.T) {
	k := mustKeyring(t, DefaultKeyring).WithEncryptFields(false)
	route := decode(t, `{"plugins":{"test-enc-auth":{"key":"auth-one"}},"upstream":{"tls":{"client_key":`+jsonString(testPEM)+`}}}`)
	if err := k.EncryptObject(model.Routes, route); err != nil {
		t.Fatal(err)
	}
	if got := route["plugins"].(map[string]any)["test-enc-auth"].(map[string]any)["key"]; got != "auth-one" {
		t.Errorf("plugin field encrypted with encrypt fields off: %v", got)
	}
	if got := route["upstream"].(map[string]any)["tls"].(map[string]any)["client_key"]; got == testPEM {
		t.Errorf("upstream client key must be encrypted regardless of enable_encrypt_fields")
	}
	ssl := decode(t, `{"key":`+jsonString(testPEM)+`}`)
	if err := k.EncryptObject(model.SSLs, ssl); err != nil {
		t.Fatal(err)
	}
	if ssl["key"] == testPEM {
		t.Errorf("SSL key must be encrypted regardless of enable_encrypt_fields")
	}
}

func TestEncryptConf(t *testing.T) {
	k := mustKeyring(t, DefaultKeyring)
	conf := decode(t, `{"auth":{"password":"auth-one"},"other":"x"}`)
	if err := k.EncryptConf([]string{"auth.password"}, conf); err != nil {
		t.Fatal(err)
	}
	if got := conf["auth"].(map[string]any)["password"]; got != "4y+JvURBE6ZwRbbgaryrhg==" {
		t.Errorf("EncryptConf = %v", got)
	}
	k.DecryptConf([]string{"auth.password"}, conf)
	if got := conf["auth"].(map[string]any)["password"]; got != "auth-one" || conf["other"] != "x" {
		t.Errorf("DecryptConf = %v", conf)
	}
}

func mustKeyring(t *testing.T, keys []string) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
