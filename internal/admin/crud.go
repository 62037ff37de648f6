package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store"
)

// dirKey is the etcd directory of the call's collection, with a trailing slash.
func (h *Handler) dirKey(c *call) string {
	switch c.res.name {
	case model.Credentials:
		return h.prefix + "/consumers/" + c.consumer + "/credentials/"
	case model.Secrets:
		if c.manager != "" {
			return h.prefix + "/secrets/" + c.manager + "/"
		}
	}
	return h.prefix + "/" + string(c.res.name) + "/"
}

func (h *Handler) objKey(c *call, id string) string { return h.dirKey(c) + id }

// decodeValue parses a stored value; a value that is not JSON is shown as a string.
func decodeValue(b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	return v
}

// present prepares a stored value for a GET answer: decrypted, and an SSL's private keys
// removed (APISIX never returns them).
func (h *Handler) present(kind model.Kind, v any) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if h.o.Keyring != nil {
		h.o.Keyring.DecryptObject(kind, obj)
	}
	if kind == model.SSLs {
		delete(obj, "key")
		delete(obj, "keys")
	}
	return obj
}

// fetch reads the object at key; when it cannot, it answers the call (404 or 503) and
// reports false.
func (h *Handler) fetch(c *call, key string) (store.KV, bool) {
	kv, err := h.o.Store.Get(c.r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(errNotFound)
		return store.KV{}, false
	}
	if err != nil {
		h.log.Error("failed to get from etcd", "kind", c.res.kind, "key", key, "err", err)
		c.fail(storeError(err))
		return store.KV{}, false
	}
	return kv, true
}

func (h *Handler) get(c *call) {
	if c.id == "" {
		h.list(c)
		return
	}
	kv, ok := h.fetch(c, h.objKey(c, c.id))
	if !ok {
		return
	}
	c.reply(http.StatusOK, itemEnvelope{
		Key:           kv.Key,
		Value:         h.present(c.res.name, decodeValue(kv.Value)),
		CreatedIndex:  kv.CreateRevision,
		ModifiedIndex: kv.ModRevision,
	})
}

// listItems returns the objects directly under dir (not init_dir placeholders, not deeper
// keys such as a consumer's credentials), sorted by creation.
func (h *Handler) listItems(ctx context.Context, dir string, depth int) ([]store.KV, error) {
	kvs, _, err := h.o.Store.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	out := kvs[:0:0]
	for _, kv := range kvs {
		rest := strings.TrimPrefix(kv.Key, dir)
		if rest == "" || strings.HasSuffix(rest, "/") || strings.Count(rest, "/") != depth-1 {
			continue
		}
		if string(kv.Value) == "init_dir" || string(kv.Value) == `"init_dir"` {
			continue
		}
		out = append(out, kv)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreateRevision < out[j].CreateRevision })
	return out, nil
}

func (h *Handler) list(c *call) {
	depth := 1
	if c.res.name == model.Secrets && c.manager == "" {
		depth = 2 // /secrets/<manager>/<id>
	}
	kvs, err := h.listItems(c.r.Context(), h.dirKey(c), depth)
	if err != nil {
		h.log.Error("failed to list from etcd", "kind", c.res.kind, "err", err)
		c.fail(storeError(errors.Unwrap(err)))
		return
	}
	if len(kvs) == 0 && c.res.name == model.Credentials {
		// No init_dir placeholder exists under a consumer, so etcd finds no key and APISIX
		// passes its 404 through.
		c.fail(errNotFound)
		return
	}
	items := make([]itemEnvelope, 0, len(kvs))
	for _, kv := range kvs {
		items = append(items, itemEnvelope{
			Key:           kv.Key,
			Value:         h.present(c.res.name, decodeValue(kv.Value)),
			CreatedIndex:  kv.CreateRevision,
			ModifiedIndex: kv.ModRevision,
		})
	}
	items = filterItems(items, c.query)
	total := len(items)
	items, e := paginate(items, c.query)
	if e != nil {
		c.fail(e)
		return
	}
	c.reply(http.StatusOK, listEnvelope{List: items, Total: total})
}

func (h *Handler) put(c *call) {
	ctx := c.r.Context()
	obj, e := c.objectBody()
	if e != nil {
		c.fail(e)
		return
	}
	id, e := h.checkConf(ctx, c, obj, true, false)
	if e != nil {
		c.fail(e)
		return
	}
	if c.res.name == model.Consumers {
		c.id = id
	}
	key := h.objKey(c, id)
	if c.res.name == model.Credentials {
		if e := h.requireConsumer(ctx, c.consumer); e != nil {
			c.fail(e)
			return
		}
	}
	if c.res.name == model.PluginMetadata {
		obj["id"] = id
	} else {
		prev, err := h.o.Store.Get(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			c.fail(storeError(err))
			return
		}
		var prevObj map[string]any
		if err == nil {
			prevObj, _ = decodeValue(prev.Value).(map[string]any)
		}
		injectTimestamps(obj, prevObj)
	}
	value, e := h.seal(c.res.name, obj)
	if e != nil {
		c.fail(e)
		return
	}
	kv, created, err := h.o.Store.Put(ctx, key, value, store.WriteOptions{TTL: c.ttl})
	if err != nil {
		h.log.Error("failed to put to etcd", "kind", c.res.kind, "key", key, "err", err)
		c.fail(storeError(err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.reply(status, writeEnvelope{Key: kv.Key, Value: obj})
}

func (h *Handler) post(c *call) {
	ctx := c.r.Context()
	obj, e := c.objectBody()
	if e != nil {
		c.fail(e)
		return
	}
	if _, e := h.checkConf(ctx, c, obj, false, false); e != nil {
		c.fail(e)
		return
	}
	id, err := h.genID(ctx)
	if err != nil {
		c.fail(storeError(err))
		return
	}
	obj["id"] = id
	injectTimestamps(obj, nil)
	value, e := h.seal(c.res.name, obj)
	if e != nil {
		c.fail(e)
		return
	}
	key := h.objKey(c, id)
	kv, err := h.o.Store.Create(ctx, key, value, store.WriteOptions{TTL: c.ttl})
	if err != nil {
		h.log.Error("failed to post to etcd", "kind", c.res.kind, "key", key, "err", err)
		c.fail(storeError(err))
		return
	}
	c.reply(http.StatusCreated, writeEnvelope{Key: kv.Key, Value: obj})
}

// genID is APISIX's etcd push: the id is the revision of a write to <prefix>/gen_id, so ids
// are unique and increase with time across every gateway sharing the cluster.
func (h *Handler) genID(ctx context.Context) (string, error) {
	kv, _, err := h.o.Store.Put(ctx, h.prefix+"/gen_id", []byte("0"), store.WriteOptions{})
	if err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return fmt.Sprintf("%020d", kv.ModRevision), nil
}

func (h *Handler) delete(c *call) {
	ctx := c.r.Context()
	if c.id == "" {
		c.fail(badRequest("missing %s id", c.res.kind))
		return
	}
	key := h.objKey(c, c.id)
	if c.query.Get("force") != "true" {
		if e := h.checkInUse(ctx, c.res.name, c.id); e != nil {
			c.fail(e)
			return
		}
	}
	if c.res.name == model.Consumers {
		if _, err := h.o.Store.DeletePrefix(ctx, key+"/credentials/"); err != nil {
			c.fail(storeError(err))
			return
		}
	}
	_, err := h.o.Store.Delete(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(errNotFound)
		return
	}
	if err != nil {
		h.log.Error("failed to delete in etcd", "kind", c.res.kind, "key", key, "err", err)
		c.fail(storeError(err))
		return
	}
	c.reply(http.StatusOK, deleteEnvelope{Deleted: "1", Key: key})
}

// requireConsumer answers 404 "consumer not found" for a credential of a missing consumer.
func (h *Handler) requireConsumer(ctx context.Context, username string) *errResponse {
	_, err := h.o.Store.Get(ctx, h.prefix+"/consumers/"+username)
	if errors.Is(err, store.ErrNotFound) {
		return &errResponse{http.StatusNotFound, errorBody("consumer not found")}
	}
	if err != nil {
		return storeError(err)
	}
	return nil
}

// injectTimestamps sets create_time (kept from the replaced object) and update_time.
func injectTimestamps(obj, prev map[string]any) {
	now := time.Now().Unix()
	if _, ok := obj["create_time"]; !ok {
		if ct, ok := prev["create_time"]; ok && ct != nil {
			obj["create_time"] = ct
		} else {
			obj["create_time"] = now
		}
	}
	obj["update_time"] = now
}

// seal encrypts what data_encryption covers and encodes the value for the store. obj itself
// is encrypted in place, so the write answer shows what was stored, as APISIX's does.
func (h *Handler) seal(kind model.Kind, obj map[string]any) ([]byte, *errResponse) {
	if h.o.Keyring != nil {
		if err := h.o.Keyring.EncryptObject(kind, obj); err != nil {
			return nil, &errResponse{http.StatusInternalServerError, errorBody(fmt.Sprintf("failed to encrypt: %v", err))}
		}
	}
	b, err := marshalValue(obj)
	if err != nil {
		return nil, &errResponse{http.StatusInternalServerError, errorBody(fmt.Sprintf("failed to encode: %v", err))}
	}
	return b, nil
}
