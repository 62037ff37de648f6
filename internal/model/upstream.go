package model

import (
	"crypto/x509"
	"encoding/pem"
	"regexp"
)

// hashVarsKey is the `key` pattern for hash_on "vars" (APISIX's upstream_hash_vars_schema).
const hashVarsKey = `^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$`

// hashHeaderKey is the `key` pattern for hash_on "header" and "cookie".
const hashHeaderKey = `^[a-zA-Z0-9-_]+$`

var (
	hashVarsKeyRe   = regexp.MustCompile(hashVarsKey)
	hashHeaderKeyRe = regexp.MustCompile(hashHeaderKey)
	secretRefRe     = regexp.MustCompile(`^\$(secret|env|ENV)://`)
)

// checkUpstream applies apisix/upstream.lua's check_upstream_conf rules that follow the
// schema check. http is false for stream routes' upstreams.
func checkUpstream(up map[string]any, http bool) error {
	if http {
		if up["pass_host"] == "rewrite" {
			if h, _ := up["upstream_host"].(string); h == "" {
				return &Error{Msg: "`upstream_host` can't be empty when `pass_host` is `rewrite`"}
			}
		}
	}
	if tls, ok := up["tls"].(map[string]any); ok {
		cert, _ := tls["client_cert"].(string)
		key, _ := tls["client_key"].(string)
		if cert != "" && !secretRefRe.MatchString(cert) && !secretRefRe.MatchString(key) {
			if msg := validateCertKey(cert, key, true); msg != "" {
				return &Error{Msg: msg}
			}
		}
	}
	if up["type"] != "chash" {
		return nil
	}
	hashOn, _ := up["hash_on"].(string)
	if hashOn == "" {
		hashOn = "vars"
	}
	key, hasKey := up["key"].(string)
	if hashOn != "consumer" && !hasKey {
		return &Error{Msg: "missing key"}
	}
	switch hashOn {
	case "vars":
		if !hashVarsKeyRe.MatchString(key) {
			return &Error{Msg: "invalid configuration: failed to match pattern " + luaQuote(hashVarsKey) + " with " + luaQuote(key)}
		}
	case "header", "cookie":
		if !hashHeaderKeyRe.MatchString(key) {
			return &Error{Msg: "invalid configuration: failed to match pattern " + luaQuote(hashHeaderKey) + " with " + luaQuote(key)}
		}
	}
	return nil
}

// validateCertKey mirrors apisix/ssl.lua's validate(): the texts are OpenSSL's, which APISIX
// passes through. withKey false checks a lone certificate (a CA).
func validateCertKey(cert, key string, withKey bool) string {
	if !parsesAsCert(cert) {
		return "failed to parse cert: PEM_read_bio_X509_AUX() failed"
	}
	if !withKey {
		return ""
	}
	if !parsesAsKey(key) {
		return "failed to parse key: PEM_read_bio_PrivateKey() failed"
	}
	return ""
}

func parsesAsCert(s string) bool {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return false
	}
	_, err := x509.ParseCertificate(block.Bytes)
	return err == nil
}

func parsesAsKey(s string) bool {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return false
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(block.Bytes)
	return err == nil
}
