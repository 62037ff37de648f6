package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store"
)

// refNouns name a referenced kind the way APISIX's "failed to fetch <noun> info by <noun> id"
// texts do.
var refNouns = map[model.Kind]string{
	model.Upstreams:      "upstream",
	model.Services:       "service",
	model.PluginConfigs:  "plugin config",
	model.ConsumerGroups: "consumer group",
	model.SSLs:           "ssl",
	model.Protos:         "proto",
	model.Secrets:        "secret",
}

// directRef reports whether ref comes from a field of the object itself (route.upstream_id,
// consumer.group_id ...) rather than from inside a plugin conf: APISIX checks existence only
// for the former at write time, and words in-use errors differently for the latter.
func directRef(obj map[string]any, ref model.Ref) bool {
	if ref.Kind == model.SSLs {
		return true // upstream tls.client_cert_id, checked by check_upstream_conf
	}
	got, ok := idString(obj[ref.Field])
	return ok && got == ref.ID
}

// checkReferences fails when an object names an upstream, service, plugin config or consumer
// group that does not exist.
func (h *Handler) checkReferences(ctx context.Context, kind model.Kind, obj map[string]any) *errResponse {
	for _, ref := range model.References(kind, obj) {
		if !directRef(obj, ref) {
			continue
		}
		noun, ok := refNouns[ref.Kind]
		if !ok {
			continue
		}
		_, err := h.o.Store.Get(ctx, h.prefix+"/"+string(ref.Kind)+"/"+ref.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return badRequest("failed to fetch %s info by %s id [%s], response code: 404", noun, noun, ref.ID)
		case err != nil:
			return badRequest("failed to fetch %s info by %s id [%s]: %s", noun, noun, ref.ID, err.Error())
		}
	}
	return nil
}

// users lists, per deletable kind, the kinds whose objects may refer to it and the type name
// APISIX's delete checker puts in its message, in the order APISIX checks them.
var users = map[model.Kind][]struct {
	kind model.Kind
	typ  string
}{
	model.Upstreams: {
		{model.Routes, "route"}, {model.Services, "service"}, {model.PluginConfigs, "plugin_config"},
		{model.Consumers, "consumer"}, {model.ConsumerGroups, "consumer_group"}, {model.GlobalRules, "global_rules"},
	},
	model.Services:       {{model.Routes, "route"}, {model.StreamRoutes, "stream_route"}},
	model.PluginConfigs:  {{model.Routes, "route"}},
	model.ConsumerGroups: {{model.Consumers, "consumer"}},
	model.Protos: {
		{model.Routes, "route"}, {model.Services, "service"}, {model.PluginConfigs, "plugin_config"},
		{model.Consumers, "consumer"}, {model.ConsumerGroups, "consumer_group"}, {model.GlobalRules, "global_rule"},
	},
}

// inUseText is APISIX's delete_checker message for a kind; plugin marks a reference found
// inside a plugin conf (traffic-split's upstream_id).
func inUseText(kind model.Kind, typ, id string, plugin bool) string {
	switch kind {
	case model.Upstreams:
		if plugin {
			return fmt.Sprintf("can not delete this upstream, plugin in %s [%s] is still using it now", typ, id)
		}
		return fmt.Sprintf("can not delete this upstream, %s [%s] is still using it now", typ, id)
	case model.Services:
		return fmt.Sprintf("can not delete this service directly, %s [%s] is still using it now", typ, id)
	case model.PluginConfigs:
		return fmt.Sprintf("can not delete this plugin config, %s [%s] is still using it now", typ, id)
	case model.ConsumerGroups:
		return fmt.Sprintf("can not delete this consumer group, %s [%s] is still using it now", typ, id)
	default:
		return fmt.Sprintf("can not delete this %s, %s [%s] is still using it now", refNouns[kind], typ, id)
	}
}

// checkInUse refuses to delete an object another one still refers to (skipped by ?force=true).
func (h *Handler) checkInUse(ctx context.Context, kind model.Kind, id string) *errResponse {
	for _, u := range users[kind] {
		kvs, err := h.listItems(ctx, h.prefix+"/"+string(u.kind)+"/", 1)
		if err != nil {
			return storeError(errors.Unwrap(err))
		}
		for _, kv := range kvs {
			obj, ok := decodeValue(kv.Value).(map[string]any)
			if !ok {
				continue
			}
			direct, inPlugin := false, false
			for _, ref := range model.References(u.kind, obj) {
				if ref.Kind != kind || ref.ID != id {
					continue
				}
				if directRef(obj, ref) {
					direct = true
				} else {
					inPlugin = true
				}
			}
			if kind == model.Protos && grpcTranscodeProto(obj) == id {
				direct = true
			}
			if !direct && !inPlugin {
				continue
			}
			// A proto is only ever referred to from grpc-transcode, which APISIX words as a
			// plain reference.
			plugin := inPlugin && kind == model.Upstreams
			return &errResponse{http.StatusBadRequest, errorBody(inUseText(kind, u.typ, objectName(kv.Key, obj), plugin))}
		}
	}
	return nil
}

// objectName is how APISIX names the referring object: its id, or a consumer's username.
func objectName(key string, obj map[string]any) string {
	if s, ok := idString(obj["id"]); ok {
		return s
	}
	if s, ok := obj["username"].(string); ok {
		return s
	}
	return key[strings.LastIndex(key, "/")+1:]
}

// grpcTranscodeProto returns the proto_id an object's grpc-transcode plugin names, as APISIX's
// proto delete checker compares it (tostring of the value), or "".
func grpcTranscodeProto(obj map[string]any) string {
	plugins, _ := obj["plugins"].(map[string]any)
	conf, _ := plugins["grpc-transcode"].(map[string]any)
	id, _ := idString(conf["proto_id"])
	return id
}
