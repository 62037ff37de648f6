package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store/standalone"
)

// The Admin API of APISIX's API-driven standalone mode (deployment.role traditional with
// config_provider yaml): the whole configuration is pushed with PUT /apisix/admin/configs and
// kept in memory; GET returns it, HEAD its metadata. Every other Admin API path is 404.

// ConfigApplier takes a validated configuration (apisix.yaml's layout) into the data plane.
type ConfigApplier interface {
	ApplyConfig(doc map[string]any) error
}

const (
	headerDigest       = "X-Digest"
	headerLastModified = "X-Last-Modified"
)

// configKinds are the configuration's object lists, each with its <kind>_conf_version.
var configKinds = []model.Kind{model.Routes, model.Services, model.Upstreams, model.Consumers,
	model.ConsumerGroups, model.SSLs, model.GlobalRules, model.PluginConfigs, model.PluginMetadata,
	model.StreamRoutes, model.Protos, model.Secrets}

// standaloneConfig is the pushed configuration and its metadata.
type standaloneConfig struct {
	mu  sync.Mutex
	doc map[string]any // as GET shows it: lists, conf versions, X-Digest, X-Last-Modified
}

func versionKey(k model.Kind) string { return string(k) + "_conf_version" }

// current returns the stored document, or the initial one (every conf version 0).
func (c *standaloneConfig) current() (doc map[string]any, found bool) {
	if c.doc != nil {
		return c.doc, true
	}
	doc = map[string]any{}
	for _, k := range configKinds {
		doc[versionKey(k)] = int64(0)
	}
	return doc, false
}

// snapshot returns the current document; it is replaced whole, never changed in place, so
// it may be read after the lock is released.
func (c *standaloneConfig) snapshot() (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current()
}

// serveConfigs answers /apisix/admin/configs and /apisix/admin/configs/validate. Bodies are
// read and responses written outside the lock: a slow client holds up nobody.
func (h *Handler) serveConfigs(w http.ResponseWriter, r *http.Request, segs []string) {
	st := h.configs
	switch {
	case len(segs) == 2 && segs[1] == "validate" && r.Method == http.MethodPost:
		doc, e := readConfigBody(r)
		if e == nil {
			cur, _ := st.snapshot()
			_, e = h.checkConfig(cur, doc)
		}
		if e != nil {
			writeJSON(w, e.status, e.body)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	case len(segs) != 1:
		writeJSON(w, http.StatusNotFound, errorBody("not found"))
		return
	}
	switch r.Method {
	case http.MethodHead:
		cur, found := st.snapshot()
		setConfigMeta(w, cur, found)
		w.WriteHeader(http.StatusOK)
	case http.MethodPut:
		digest := r.Header.Get(headerDigest)
		if digest == "" {
			writeJSON(w, http.StatusBadRequest, errorBody("missing digest header"))
			return
		}
		doc, e := readConfigBody(r)
		if e != nil {
			writeJSON(w, e.status, e.body)
			return
		}
		status, e := h.pushConfig(doc, digest)
		if e != nil {
			writeJSON(w, e.status, e.body)
			return
		}
		w.WriteHeader(status)
	default: // GET
		cur, found := st.snapshot()
		setConfigMeta(w, cur, found)
		if strings.HasPrefix(r.Header.Get("Accept"), "application/yaml") {
			b, err := yaml.Marshal(cur)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, errorBody("failed to encode yaml"))
				return
			}
			w.Header().Set("Content-Type", "application/yaml")
			w.WriteHeader(http.StatusOK)
			w.Write(b)
			return
		}
		writeJSON(w, http.StatusOK, cur)
	}
}

// pushConfig checks doc against the current configuration and applies it: 202, or 204 when
// the digest is the current one.
func (h *Handler) pushConfig(doc map[string]any, digest string) (int, *errResponse) {
	st := h.configs
	st.mu.Lock()
	defer st.mu.Unlock()
	cur, found := st.current()
	if found && cur[headerDigest] == digest {
		return http.StatusNoContent, nil // the same configuration: nothing to do
	}
	next, e := h.checkConfig(cur, doc)
	if e != nil {
		return 0, e
	}
	next[headerLastModified] = time.Now().Unix()
	next[headerDigest] = digest
	if err := h.o.Standalone.ApplyConfig(deepCopy(next)); err != nil {
		return 0, &errResponse{http.StatusInternalServerError, errorBody(err.Error())}
	}
	st.doc = next
	return http.StatusAccepted, nil
}

func setConfigMeta(w http.ResponseWriter, doc map[string]any, found bool) {
	if !found {
		return
	}
	w.Header().Set(headerLastModified, fmt.Sprint(doc[headerLastModified]))
	w.Header().Set(headerDigest, fmt.Sprint(doc[headerDigest]))
}

// readConfigBody decodes a PUT body: YAML when Content-Type says application/yaml, else JSON.
func readConfigBody(r *http.Request) (map[string]any, *errResponse) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxConfigBody+1))
	if err != nil {
		return nil, badRequest("invalid request body: %v", err)
	}
	if len(body) > maxConfigBody {
		return nil, badRequest("invalid request body: larger than %d bytes", maxConfigBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("invalid request body: empty request body")
	}
	var doc map[string]any
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") {
		var raw any
		if err := yaml.Unmarshal(body, &raw); err != nil {
			return nil, badRequest("invalid request body: invalid yaml request body")
		}
		raw = standalone.StringKeys(raw)
		// through JSON: YAML maps become map[string]any and numbers float64, as JSON's
		j, err := json.Marshal(raw)
		if err != nil {
			return nil, badRequest("invalid request body: invalid yaml request body")
		}
		body = j
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		if err == nil {
			err = fmt.Errorf("not an object")
		}
		return nil, badRequest("invalid request body: %v", err)
	}
	return doc, nil
}

// maxConfigBody bounds a pushed configuration (the whole gateway's: larger than one object's).
const maxConfigBody = 64 << 20

// checkConfig applies APISIX's update rules to a pushed doc against the current one: per kind,
// a conf version lower than the current is refused, an equal one keeps the current objects,
// a higher (or absent: current+1) one takes the pushed objects, each validated as the Admin
// API would (references are not checked) and unique by id.
func (h *Handler) checkConfig(cur, doc map[string]any) (map[string]any, *errResponse) {
	next := map[string]any{}
	for _, kind := range configKinds {
		vk := versionKey(kind)
		curVer := toInt(cur[vk])
		newVer := curVer + 1
		if v, ok := doc[vk]; ok {
			f, isNum := v.(float64)
			if !isNum || f != float64(int64(f)) {
				return nil, badRequest("%s must be a number", vk)
			}
			if int64(f) < curVer {
				return nil, badRequest("%s must be greater than or equal to (%d)", vk, curVer)
			}
			newVer = int64(f)
		}
		next[vk] = newVer
		if newVer == curVer {
			if items, ok := cur[string(kind)]; ok {
				next[string(kind)] = items
			}
			continue
		}
		raw, ok := doc[string(kind)]
		if !ok || raw == nil {
			continue
		}
		if kind == model.StreamRoutes && !h.o.StreamMode {
			continue // not tracked without stream mode, as APISIX's stream_routes
		}
		items, ok := raw.([]any)
		if !ok {
			return nil, badRequest("invalid %s: not a list", kind)
		}
		if len(items) == 0 {
			continue
		}
		seen := map[string]bool{}
		for i, item := range items {
			obj, ok := item.(map[string]any)
			if !ok {
				return nil, badRequest("invalid %s at index %d, err: not an object", kind, i)
			}
			if err := h.checkConfigItem(kind, obj); err != nil {
				return nil, badRequest("invalid %s at index %d, err: %s", kind, i, err)
			}
			ident, what := configIdent(obj), "id"
			if ident == "" {
				ident = "arr_" + strconv.Itoa(i+1) // the id the data plane gives it
			}
			if kind == model.Consumers && obj["id"] == nil {
				what = "username"
			} else if kind == model.Consumers {
				what = "credential id"
			}
			if seen[ident] {
				return nil, badRequest("found duplicate %s %s in %s", what, ident, kind)
			}
			seen[ident] = true
		}
		next[string(kind)] = items
	}
	return next, nil
}

// checkConfigItem validates one object of the pushed configuration on a copy (the schema's
// defaults are not stored, as APISIX checks a deep copy).
func (h *Handler) checkConfigItem(kind model.Kind, item map[string]any) error {
	obj := deepCopy(item)
	delete(obj, "modifiedIndex") // allowed on every item in this mode
	id, _ := idString(obj["id"])
	switch {
	case kind == model.Consumers && strings.Contains(id, "/credentials/"):
		if !credentialID.MatchString(id) {
			return fmt.Errorf(`invalid configuration: property "id" validation failed: failed to match pattern %q with %q`, credentialID.String(), id)
		}
		delete(obj, "id")
		return h.o.Checker.Check(model.Credentials, "", obj)
	case kind == model.Consumers:
		username, _ := idString(obj["username"])
		return h.o.Checker.Check(kind, username, obj)
	case kind == model.Secrets:
		if !strings.Contains(id, "/") {
			return fmt.Errorf("invalid secret id: %s", id)
		}
		delete(obj, "id")
		return h.o.Checker.Check(kind, id, obj)
	case kind == model.PluginMetadata:
		delete(obj, "id")
		return h.o.Checker.Check(kind, id, obj)
	}
	return h.o.Checker.Check(kind, id, obj)
}

// credentialID is the id pattern APISIX's standalone mode gives credential items.
var credentialID = regexp.MustCompile(`^[a-zA-Z0-9-_]+/credentials/[a-zA-Z0-9-_.]+$`)

func configIdent(obj map[string]any) string {
	if id, ok := idString(obj["id"]); ok {
		return id
	}
	id, _ := idString(obj["username"])
	return id
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// deepCopy copies a decoded JSON value (maps, lists, scalars).
func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
