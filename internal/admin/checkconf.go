package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// idPattern is APISIX's id_schema for string ids (1–64 characters).
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9-_.]+$`)

// checkConf is APISIX's resource:check_conf: id rules, forbidden timestamps, the resource's
// schema and rules (model.Checker), then the references and uniqueness rules that need the
// store. It returns the object's id (username for consumers, plugin name for metadata).
// allowTime is set for PATCH, whose merged object carries the stored timestamps.
func (h *Handler) checkConf(ctx context.Context, c *call, obj map[string]any, needID, allowTime bool) (string, *errResponse) {
	id := c.id
	if !c.res.noID {
		var e *errResponse
		if id, e = checkID(c, obj, needID); e != nil {
			return "", e
		}
	}
	if !allowTime {
		if e := forbiddenTimes(obj); e != nil {
			return "", e
		}
	}
	checkID := id
	switch c.res.name {
	case model.Secrets:
		if !secretManagers[c.manager] {
			return "", badRequest("invalid secret manager: %s", c.manager)
		}
		checkID = c.manager + "/" + id
	case model.PluginMetadata:
		if id == "" {
			return "", badRequest("missing plugin name")
		}
		if !h.pluginEnabled(id) {
			return "", badRequest("invalid plugin name")
		}
		if err := h.o.Checker.CheckPluginMetadata(id, obj); err != nil {
			return "", validationError(err)
		}
		return id, nil
	}
	if err := h.o.Checker.Check(c.res.name, checkID, obj); err != nil {
		return "", validationError(err)
	}
	if c.res.name == model.Consumers {
		username, _ := obj["username"].(string)
		if username == "" {
			return "", badRequest(`invalid configuration: property "username" is required`)
		}
		if id != "" && id != username {
			return "", badRequest("wrong username")
		}
		id = username
	}
	if e := h.checkReferences(ctx, c.res.name, obj); e != nil {
		return "", e
	}
	switch c.res.name {
	case model.Consumers:
		if e := h.checkDuplicateKeys(ctx, obj, id, "", ""); e != nil {
			return "", e
		}
	case model.Credentials:
		if e := h.checkDuplicateKeys(ctx, obj, "", c.consumer, id); e != nil {
			return "", e
		}
	}
	return id, nil
}

// checkID applies APISIX's id rules and sets obj.id: the URL id wins, the body id must agree
// with it, POST must not carry one.
func checkID(c *call, obj map[string]any, needID bool) (string, *errResponse) {
	bodyID, hasBodyID := idString(obj["id"])
	if c.res.name == model.Secrets && hasBodyID {
		// A secret's stored id is "<manager>/<id>"; compare the URL form with that.
		if c.id != "" && bodyID != c.manager+"/"+c.id {
			return "", badRequest("wrong %s id", c.res.kind)
		}
		hasBodyID = false
	}
	id := c.id
	if id == "" && hasBodyID {
		id = bodyID
	}
	if needID && id == "" {
		return "", badRequest("missing %s id", c.res.kind)
	}
	if !needID && id != "" {
		return "", badRequest("wrong %s id, do not need it", c.res.kind)
	}
	if needID && hasBodyID && bodyID != id {
		return "", badRequest("wrong %s id", c.res.kind)
	}
	if !needID {
		return "", nil
	}
	if !validID(obj["id"], id, c.id != "") {
		return "", badRequest(`invalid configuration: property "id" validation failed: object matches none of the required`)
	}
	if c.res.name == model.Secrets {
		obj["id"] = c.manager + "/" + id
	} else if c.id != "" || obj["id"] == nil {
		obj["id"] = id
	}
	return id, nil
}

// validID is APISIX's id_schema: a string of 1–64 characters from [a-zA-Z0-9-_.] or an
// integer ≥ 1. fromURL ids are always strings.
func validID(raw any, id string, fromURL bool) bool {
	if f, ok := raw.(float64); ok && !fromURL {
		return f >= 1 && f == float64(int64(f))
	}
	return len(id) <= 64 && idPattern.MatchString(id)
}

// idString renders an id the way Lua's tostring does for strings and integers.
func idString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10), true
		}
		return strconv.FormatFloat(x, 'g', 14, 64), true
	case nil:
		return "", false
	default:
		return fmt.Sprint(x), true
	}
}

// forbiddenTimes rejects client-supplied create_time/update_time; the server owns them. The
// text keeps APISIX's two spaces after the colon (its message is built as
// "the property is forbidden: " .. " " .. name).
func forbiddenTimes(obj map[string]any) *errResponse {
	for _, where := range []string{"", "upstream", "plugins"} {
		m := obj
		if where != "" {
			sub, ok := obj[where].(map[string]any)
			if !ok {
				continue
			}
			m = sub
		}
		for _, f := range []string{"create_time", "update_time"} {
			if v, ok := m[f]; ok && v != nil && v != false {
				if where != "" {
					f = where + "." + f
				}
				return badRequest("the property is forbidden:  %s", f)
			}
		}
	}
	return nil
}

// validationError turns a Checker failure into APISIX's 400 answer.
func validationError(err error) *errResponse {
	var me *model.Error
	if errors.As(err, &me) {
		return &errResponse{http.StatusBadRequest, errorBody(me.Msg)}
	}
	return &errResponse{http.StatusBadRequest, errorBody(err.Error())}
}

// pluginEnabled reports whether name is a registered plugin enabled on this node.
func (h *Handler) pluginEnabled(name string) bool {
	if _, ok := plugin.Lookup(name); !ok {
		return false
	}
	for _, n := range h.o.EnabledPlugins() {
		if n == name {
			return true
		}
	}
	return false
}
