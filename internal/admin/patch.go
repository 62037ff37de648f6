package admin

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store"
)

// patch merges the body into the stored object (or replaces one sub-path of it), validates
// the result like a PUT, and writes it only if nobody changed the object meanwhile.
func (h *Handler) patch(c *call) {
	ctx := c.r.Context()
	if c.res.name == model.Secrets && c.id == "" {
		c.fail(badRequest("no secret id"))
		return
	}
	if c.id == "" {
		c.fail(badRequest("missing %s id", c.res.kind))
		return
	}
	if !c.hasBody {
		c.fail(badRequest("missing new configuration"))
		return
	}
	if _, isObj := c.body.(map[string]any); c.sub == "" && !isObj {
		c.fail(badRequest("invalid configuration"))
		return
	}
	key := h.objKey(c, c.id)
	kv, ok := h.fetch(c, key)
	if !ok {
		return
	}
	node, _ := decodeValue(kv.Value).(map[string]any)
	if node == nil {
		node = map[string]any{}
	}
	// Merge in plain text: the stored object is decrypted first so fields come out encrypted
	// exactly once.
	if h.o.Keyring != nil {
		h.o.Keyring.DecryptObject(c.res.name, node)
	}
	node, e := applyPatch(node, c.sub, c.body)
	if e != nil {
		c.fail(e)
		return
	}
	if _, e := h.checkConf(ctx, c, node, true, true); e != nil {
		c.fail(e)
		return
	}
	value, e := h.seal(c.res.name, node)
	if e != nil {
		c.fail(e)
		return
	}
	out, err := h.o.Store.CompareAndSwap(ctx, key, value, kv.ModRevision, store.WriteOptions{TTL: c.ttl})
	switch {
	case errors.Is(err, store.ErrConflict):
		c.fail(storeError(store.ErrConflict))
		return
	case errors.Is(err, store.ErrNotFound):
		c.fail(errNotFound)
		return
	case err != nil:
		h.log.Error("failed to set new value in etcd", "kind", c.res.kind, "key", key, "err", err)
		c.fail(storeError(err))
		return
	}
	c.reply(http.StatusOK, writeEnvelope{Key: out.Key, Value: node})
}

// applyPatch applies a PATCH body to the stored object: the value at sub when a sub-path is
// given, a merge otherwise; then it sets update_time (unless the merge gave one) and a
// missing create_time.
func applyPatch(node map[string]any, sub string, body any) (map[string]any, *errResponse) {
	now := time.Now().Unix()
	if sub != "" {
		var e *errResponse
		if node, e = patchPath(node, sub, body); e != nil {
			return nil, e
		}
		node["update_time"] = now
	} else {
		patchObj, _ := body.(map[string]any)
		node = mergePatch(node, patchObj)
		if _, given := patchObj["update_time"]; !given || patchObj["update_time"] == nil {
			node["update_time"] = now
		}
	}
	if _, ok := node["create_time"]; !ok {
		node["create_time"] = now
	}
	return node, nil
}

// mergePatch is APISIX's core.table.merge: objects merge recursively, any other value
// (arrays included) replaces, and null deletes the key.
func mergePatch(origin, patch map[string]any) map[string]any {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(origin, k)
		case map[string]any:
			if ov, ok := origin[k].(map[string]any); ok {
				origin[k] = mergePatch(ov, pv)
			} else {
				origin[k] = pv
			}
		default:
			origin[k] = v
		}
	}
	return origin
}

// patchPath is APISIX's core.table.patch: PATCH /routes/1/upstream/nodes replaces that one
// value, creating missing intermediate objects; null removes it.
func patchPath(node map[string]any, sub string, value any) (map[string]any, *errResponse) {
	parts := strings.Split(sub, "/")
	cur := node
	for i, p := range parts[:len(parts)-1] {
		next, exists := cur[p]
		if !exists || next == nil {
			m := map[string]any{}
			cur[p] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return nil, badRequest("invalid sub-path: /%s", strings.Join(parts[:i+1], "/"))
		}
		cur = m
	}
	last := parts[len(parts)-1]
	if last == "" {
		m, ok := value.(map[string]any)
		if !ok {
			return nil, badRequest("invalid configuration")
		}
		return m, nil
	}
	if value == nil {
		delete(cur, last)
	} else {
		cur[last] = value
	}
	return node, nil
}
