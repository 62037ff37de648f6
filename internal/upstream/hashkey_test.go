package upstream

import (
	"testing"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// mapVars resolves variables from a map by their source name.
type mapVars map[string]string

func (m mapVars) Lookup(v *plugin.Var) ([]byte, bool) {
	for name, val := range m {
		if pv := plugin.ParseVar(name); pv == *v {
			return []byte(val), true
		}
	}
	return nil, false
}

func TestAppendHashKey(t *testing.T) {
	vars := mapVars{"uri": "/a", "remote_addr": "10.0.0.1", "http_x-user": "jack", "cookie_sid": "s1",
		"consumer_name": "rose", "request_uri": "/a?b=1", "arg_id": "7", "http_x-empty": ""}
	for _, tc := range []struct {
		hashOn, key, want string
	}{
		{"", "uri", "/a"},
		{"vars", "arg_id", "7"},
		{"vars", "arg_missing", "10.0.0.1"}, // absent: remote_addr, as APISIX falls back
		{"header", "X-User", "jack"},
		{"cookie", "sid", "s1"},
		{"consumer", "", "rose"},
		{"vars_combinations", "$request_uri$remote_addr", "/a?b=110.0.0.1"},
		{"vars_combinations", "${uri}-${arg_id}", "/a-7"},
		{"vars_combinations", "static", "10.0.0.1"}, // no variable resolved: remote_addr
		{"vars_combinations", "$arg_no-$arg_none", "10.0.0.1"},
		{"header", "X-Empty", ""}, // present but empty: hashed as it is
	} {
		u, err := NewWithOptions("k", &model.Upstream{Type: "chash", HashOn: tc.hashOn, Key: tc.key,
			Nodes: model.Nodes{{Host: "127.0.0.1", Port: 1, Weight: 1}}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(u.AppendHashKey(nil, vars)); !u.CHash() || got != tc.want {
			t.Errorf("hash_on %q key %q: %q, want %q", tc.hashOn, tc.key, got, tc.want)
		}
	}
	if _, err := NewWithOptions("k", &model.Upstream{Type: "chash", HashOn: "body", Key: "x"}, Options{}); err == nil {
		t.Error("hash_on body: no error")
	}
}
