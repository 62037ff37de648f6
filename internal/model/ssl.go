package model

import "fmt"

// checkSSL applies apisix/ssl.lua's check_ssl_conf after the schema.
func checkSSL(cs *compiledSchema, obj map[string]any) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	cert, _ := obj["cert"].(string)
	key, _ := obj["key"].(string)
	if !secretRefRe.MatchString(cert) && !secretRefRe.MatchString(key) {
		if msg := validateCertKey(cert, key, true); msg != "" {
			return &Error{Msg: msg}
		}
	}
	if obj["type"] == "client" {
		return nil
	}
	certs, _ := obj["certs"].([]any)
	keys, _ := obj["keys"].([]any)
	if len(certs) != len(keys) {
		return &Error{Msg: "mismatched number of certs and keys"}
	}
	for i := range certs {
		c, _ := certs[i].(string)
		k, _ := keys[i].(string)
		if secretRefRe.MatchString(c) || secretRefRe.MatchString(k) {
			continue
		}
		if msg := validateCertKey(c, k, true); msg != "" {
			return &Error{Msg: fmt.Sprintf("failed to handle cert-key pair[%d]: %s", i+1, msg)}
		}
	}
	if client, ok := obj["client"].(map[string]any); ok {
		ca, _ := client["ca"].(string)
		if msg := validateCertKey(ca, "", false); msg != "" {
			return &Error{Msg: "failed to validate client_cert: " + msg}
		}
		regexes, _ := client["skip_mtls_uri_regex"].([]any)
		for _, r := range regexes {
			s, _ := r.(string)
			if err := CheckRegex(s); err != nil {
				return &Error{Msg: "failed to validate skip_mtls_uri_regex: " + err.Error()}
			}
		}
	}
	return nil
}
