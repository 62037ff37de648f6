package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store"
)

// trackedKinds are the resources the data plane compiles; other keys under the prefix
// (protos, secrets, graphql decorations) are ignored here.
var trackedKinds = []model.Kind{
	model.Routes, model.Services, model.Upstreams, model.PluginConfigs, model.Consumers,
	model.Credentials, model.ConsumerGroups, model.GlobalRules, model.SSLs, model.PluginMetadata,
	model.StreamRoutes,
}

// object is one decoded resource with the store metadata it came with.
type object struct {
	kind model.Kind
	id   string // credentials: "<username>/<credential id>"
	key  string
	kv   store.KV
	seq  int64 // routes: router insertion order
	// val is *model.Route, *model.Service, *model.Upstream, *model.PluginSet, *model.Consumer,
	// *model.Credential, *streamRouteDoc, or json.RawMessage (ssls, plugin_metadata).
	val any
	// inlineUp is the raw JSON of a route's or service's inline upstream (nil when none): an
	// inline upstream is recompiled only when these bytes change.
	inlineUp json.RawMessage
}

// index holds the last good decode of every tracked key, by kind and id.
type index struct {
	prefix string // "/apisix"
	objs   map[model.Kind]map[string]*object
	bad    map[string]string // key → why its current value is not used
	seq    int64             // next route insertion sequence
}

func newIndex(prefix string) *index {
	ix := &index{prefix: prefix, objs: map[model.Kind]map[string]*object{}, bad: map[string]string{}}
	for _, k := range trackedKinds {
		ix.objs[k] = map[string]*object{}
	}
	return ix
}

func (ix *index) get(kind model.Kind, id string) *object { return ix.objs[kind][id] }

// parseKey maps an etcd key to its kind and id; ok is false for keys the data plane skips:
// directory placeholders ("/apisix/routes/"), /plugins, /gen_id and untracked kinds.
func (ix *index) parseKey(key string) (kind model.Kind, id string, ok bool) {
	rest, found := strings.CutPrefix(key, ix.prefix+"/")
	if !found || rest == "" || strings.HasSuffix(rest, "/") {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] != "":
		kind, id = model.Kind(parts[0]), parts[1]
	case len(parts) == 4 && parts[0] == string(model.Consumers) && parts[2] == "credentials":
		kind, id = model.Credentials, parts[1]+"/"+parts[3]
	default:
		return "", "", false
	}
	if _, tracked := ix.objs[kind]; !tracked || kind == model.Credentials && len(parts) != 4 {
		return "", "", false
	}
	return kind, id, true
}

// isPlaceholder reports APISIX's `init_dir` directory marker.
func isPlaceholder(v []byte) bool {
	v = bytes.TrimSpace(v)
	return string(v) == "init_dir" || string(v) == `"init_dir"`
}

// change is what one event did to the index, for the compiler's dirty sets.
type change struct {
	kind    model.Kind
	id      string
	changed bool // the served object changed (not just the error state)
}

// put decodes kv and stores it; a value that does not decode is recorded in bad and the last
// good version (if any) stays.
func (ix *index) put(kv store.KV, decrypt func(model.Kind, map[string]any)) (change, bool) {
	kind, id, ok := ix.parseKey(kv.Key)
	if !ok || isPlaceholder(kv.Value) {
		return change{}, false
	}
	val, inline, err := decode(kind, kv.Value, decrypt)
	if err != nil {
		reason := fmt.Sprintf("invalid %s: %v", singular(kind), err)
		if old := ix.objs[kind][id]; old != nil {
			reason += fmt.Sprintf("; serving the last good version (revision %d)", old.kv.ModRevision)
		}
		ix.bad[kv.Key] = reason
		return change{kind: kind, id: id}, true
	}
	delete(ix.bad, kv.Key)
	o := &object{kind: kind, id: id, key: kv.Key, kv: kv, val: val, inlineUp: inline}
	if old := ix.objs[kind][id]; old != nil {
		o.seq = old.seq // an update keeps the route's place, as APISIX's config array does
	} else {
		o.seq = ix.seq
		ix.seq++
	}
	ix.objs[kind][id] = o
	return change{kind: kind, id: id, changed: true}, true
}

func (ix *index) del(key string) (change, bool) {
	kind, id, ok := ix.parseKey(key)
	if !ok {
		return change{}, false
	}
	_, had := ix.objs[kind][id]
	_, wasBad := ix.bad[key]
	delete(ix.objs[kind], id)
	delete(ix.bad, key)
	return change{kind: kind, id: id, changed: had}, had || wasBad
}

// rebuildIndex makes the index of a complete set (initial list or reset), in key order so
// routes get APISIX's insertion order. A bad value whose key had a good version in prev keeps it.
func rebuildIndex(prefix string, kvs []store.KV, prev *index, decrypt func(model.Kind, map[string]any)) *index {
	ix := newIndex(prefix)
	for _, kv := range kvs {
		ix.put(kv, decrypt)
		if _, bad := ix.bad[kv.Key]; !bad || prev == nil {
			continue
		}
		if kind, id, ok := ix.parseKey(kv.Key); ok && ix.objs[kind][id] == nil {
			if old := prev.objs[kind][id]; old != nil {
				carried := *old
				carried.seq = ix.seq
				ix.seq++
				ix.objs[kind][id] = &carried
				ix.bad[kv.Key] += fmt.Sprintf("; serving the last good version (revision %d)", old.kv.ModRevision)
			}
		}
	}
	return ix
}

// routeDoc and serviceDoc keep the inline upstream's bytes beside the typed fields.
type routeDoc struct {
	model.Route
	Upstream json.RawMessage `json:"upstream"`
}

type serviceDoc struct {
	model.Service
	Upstream json.RawMessage `json:"upstream"`
}

// decryptable kinds may carry data_encryption ciphertext.
func decryptable(kind model.Kind) bool {
	switch kind {
	case model.Routes, model.Services, model.Upstreams, model.PluginConfigs, model.GlobalRules,
		model.ConsumerGroups, model.Consumers, model.Credentials, model.SSLs, model.StreamRoutes:
		return true
	}
	return false
}

func decode(kind model.Kind, v []byte, decrypt func(model.Kind, map[string]any)) (any, json.RawMessage, error) {
	if decrypt != nil && decryptable(kind) {
		// TODO(encryption): decrypt in place once the data plane needs secrets in clear text.
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, nil, err
		}
		decrypt(kind, m)
		var err error
		if v, err = json.Marshal(m); err != nil {
			return nil, nil, err
		}
	}
	if !json.Valid(v) {
		// json.Unmarshal would say the same less readably after partial decoding.
		var probe any
		return nil, nil, json.Unmarshal(v, &probe)
	}
	if t := bytes.TrimSpace(v); len(t) == 0 || t[0] != '{' {
		return nil, nil, errors.New("value is not a JSON object")
	}
	switch kind {
	case model.Routes:
		var d routeDoc
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, nil, err
		}
		up, inline, err := decodeInline(d.Upstream)
		d.Route.Upstream = up
		return &d.Route, inline, err
	case model.Services:
		var d serviceDoc
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, nil, err
		}
		up, inline, err := decodeInline(d.Upstream)
		d.Service.Upstream = up
		return &d.Service, inline, err
	case model.Upstreams:
		return decodeAs[model.Upstream](v)
	case model.PluginConfigs, model.ConsumerGroups, model.GlobalRules:
		return decodeAs[model.PluginSet](v)
	case model.Consumers:
		return decodeAs[model.Consumer](v)
	case model.Credentials:
		return decodeAs[model.Credential](v)
	case model.StreamRoutes:
		return decodeStreamRoute(v)
	default: // ssls, plugin_metadata
		return json.RawMessage(bytes.Clone(v)), nil, nil
	}
}

func decodeAs[T any](v []byte) (any, json.RawMessage, error) {
	var x T
	if err := json.Unmarshal(v, &x); err != nil {
		return nil, nil, err
	}
	return &x, nil, nil
}

func decodeInline(raw json.RawMessage) (*model.Upstream, json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var up model.Upstream
	if err := json.Unmarshal(raw, &up); err != nil {
		return nil, nil, fmt.Errorf("upstream: %w", err)
	}
	return &up, raw, nil
}

// singular names a kind in messages ("route", "plugin_config" ...).
func singular(k model.Kind) string {
	switch k {
	case model.PluginMetadata:
		return "plugin_metadata"
	case model.Credentials:
		return "credential"
	}
	return strings.TrimSuffix(string(k), "s")
}
