package authconsumer

import (
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestResolveRef(t *testing.T) {
	t.Setenv("SLUICE_AC_PLAIN", "v")
	t.Setenv("SLUICE_AC_JSON", `{"k":"jv","n":1}`)
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"plain", "plain", true},
		{"$env://SLUICE_AC_PLAIN", "v", true},
		{"$ENV://SLUICE_AC_PLAIN", "v", true},
		{"$env://SLUICE_AC_JSON/k", "jv", true},
		{"$env://SLUICE_AC_JSON/n", "", false}, // not a string
		{"$env://SLUICE_AC_JSON/missing", "", false},
		{"$env://SLUICE_AC_PLAIN/k", "", false}, // not JSON
		{"$env://SLUICE_AC_UNSET", "", false},
		{"$secret://vault/1/k", "", false},
	}
	for _, tt := range tests {
		if got, ok := ResolveRef(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ResolveRef(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNames(t *testing.T) {
	m := Names{}
	viaCred := &plugin.Consumer{Username: "jack", CredentialID: "c1"}
	m.Add(viaCred)
	if got := m["jack"]; got == viaCred || got.CredentialID != "" {
		t.Errorf("credential identity registered as the consumer: %+v", got)
	}
	own := &plugin.Consumer{Username: "jack"}
	m.Add(own)
	m.Add(&plugin.Consumer{Username: "jack", CredentialID: "c2"})
	if m["jack"] != own {
		t.Errorf("consumer-level identity not preferred: %+v", m["jack"])
	}
	m.Add(nil)
	m.Add(&plugin.Consumer{})
	if len(m) != 1 {
		t.Errorf("len = %d, want 1", len(m))
	}
}

func TestAttach(t *testing.T) {
	c := plugintest.New()
	c.ReqHeader.Set("X-Credential-Identifier", "spoofed")
	c.ReqHeader.Set("X-Consumer-Custom-ID", "spoofed")
	Attach(c, &plugin.Consumer{Username: "jack"})
	if c.ConsumerV.Username != "jack" || c.ReqHeader.Get("X-Consumer-Username") != "jack" ||
		c.ReqHeader.Get("X-Credential-Identifier") != "" || c.ReqHeader.Get("X-Consumer-Custom-ID") != "" {
		t.Errorf("after Attach: %v", c.ReqHeader)
	}
	Attach(c, &plugin.Consumer{Username: "rose", CredentialID: "c1", Labels: map[string]string{"custom_id": "7"}})
	if c.ReqHeader.Get("X-Credential-Identifier") != "c1" || c.ReqHeader.Get("X-Consumer-Custom-ID") != "7" {
		t.Errorf("after Attach: %v", c.ReqHeader)
	}
}
