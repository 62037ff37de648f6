package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody is APISIX's MAX_REQ_BODY (1.5 MiB).
const maxBody = 1024 * 1024 * 3 / 2

// call is one parsed resource request.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	res   *resource
	query url.Values

	id       string // the object id from the URL ("" when absent)
	sub      string // what follows the id in the path (PATCH sub-path)
	consumer string // credentials: the owning consumer's username
	manager  string // secrets: vault | aws | gcp

	body    any  // decoded JSON body
	hasBody bool // false when the request carried no body (or JSON null)
	ttl     time.Duration
}

// errResponse is an answer decided while handling a call.
type errResponse struct {
	status int
	body   any
}

func badRequest(format string, args ...any) *errResponse {
	return &errResponse{http.StatusBadRequest, errorBody(fmt.Sprintf(format, args...))}
}

func storeError(err error) *errResponse {
	return &errResponse{http.StatusServiceUnavailable, errorBody(err.Error())}
}

var errNotFound = &errResponse{http.StatusNotFound, notFoundBody}

func (c *call) fail(e *errResponse) {
	c.w.Header().Set("X-API-VERSION", "v3")
	if s, ok := e.body.(string); ok {
		writeText(c.w, e.status, s)
		return
	}
	writeJSON(c.w, e.status, e.body)
}

func (c *call) reply(status int, body any) {
	c.w.Header().Set("X-API-VERSION", "v3")
	writeJSON(c.w, status, body)
}

func seg(segs []string, i int) string {
	if i < len(segs) {
		return segs[i]
	}
	return ""
}

func rest(segs []string, from int) string {
	if from >= len(segs) {
		return ""
	}
	return strings.Join(segs[from:], "/")
}

// run serves /apisix/admin/<resource>[/<id>[/<sub path>]] in APISIX's order of checks:
// stream mode, resource, method, body, ttl, then the resource's own handler.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, segs []string) {
	name, id, sub := segs[0], seg(segs, 1), rest(segs, 2)
	if name == "schema" && id == "plugins" {
		// /apisix/admin/schema/plugins/<name> is GET /apisix/admin/plugins/<name>.
		name, id, sub = "plugins", seg(segs, 2), rest(segs, 3)
	}
	if name == "stream_routes" && !h.o.StreamMode {
		h.log.Warn("stream mode is disabled, can not add any stream routes")
		writeJSON(w, http.StatusBadRequest, errorBody("stream mode is disabled, can not add stream routes"))
		return
	}
	var consumer, manager string
	switch {
	case name == "consumers" && seg(segs, 2) == "credentials":
		name, consumer, id, sub = "credentials", id, seg(segs, 3), rest(segs, 4)
	case name == "secrets":
		manager, id, sub = id, seg(segs, 2), rest(segs, 3)
	}

	if name == "schema" || name == "plugins" {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusNotFound, errorBody("not found"))
			return
		}
		if name == "schema" {
			h.schemaGet(w, id)
		} else {
			h.pluginGet(w, r, id)
		}
		return
	}
	res, ok := resources[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody("Unsupported resource type: "+name))
		return
	}
	// A stalled store must not hold the request (and its goroutine) forever.
	ctx, cancel := context.WithTimeout(r.Context(), h.o.StoreTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	c := &call{w: w, r: r, res: res, query: r.URL.Query(), id: id, sub: sub, consumer: consumer, manager: manager}
	if e := c.readBody(); e != nil {
		writeJSON(w, e.status, e.body)
		return
	}
	if e := c.readTTL(); e != nil {
		writeJSON(w, e.status, e.body)
		return
	}
	if !res.supports(r.Method) {
		c.fail(&errResponse{http.StatusMethodNotAllowed,
			errorBody(fmt.Sprintf("not supported `%s` method for %s", r.Method, res.kind))})
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.get(c)
	case http.MethodPut:
		h.put(c)
	case http.MethodPost:
		h.post(c)
	case http.MethodDelete:
		h.delete(c)
	case http.MethodPatch:
		h.patch(c)
	}
}

// readBody reads at most 1.5 MiB and decodes it as JSON.
func (c *call) readBody() *errResponse {
	body, e := readLimited(c.r)
	if e != nil || len(body) == 0 {
		return e
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return &errResponse{http.StatusBadRequest, map[string]string{
			"error_msg": "invalid request body: " + err.Error(),
			"req_body":  string(body),
		}}
	}
	c.body, c.hasBody = v, v != nil
	return nil
}

// readLimited reads the request body, refusing more than maxBody with APISIX's text.
func readLimited(r *http.Request) ([]byte, *errResponse) {
	if r.Body == nil {
		return nil, nil
	}
	tooBig := func(size int64) *errResponse {
		return badRequest("invalid request body: request size %d is greater than the maximum size %d allowed", size, maxBody)
	}
	if r.ContentLength > maxBody {
		return nil, tooBig(r.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("invalid request body: %s", err.Error())
	}
	if len(body) > maxBody {
		// A chunked body has no announced length: count the rest (bounded) for the message.
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		return nil, tooBig(int64(len(body)) + n)
	}
	return body, nil
}

// readTTL parses ?ttl=<seconds>, which attaches an etcd lease to a write.
func (c *call) readTTL() *errResponse {
	raw, ok := c.query["ttl"]
	if !ok || len(raw) == 0 {
		return nil
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(raw[0]), 64)
	if err != nil {
		return badRequest("invalid argument ttl: should be a number")
	}
	if secs > 0 {
		c.ttl = time.Duration(secs * float64(time.Second))
		if c.ttl < time.Second {
			c.ttl = time.Second // etcd leases have one-second granularity
		}
	}
	return nil
}

// objectBody returns the body of a PUT/POST as an object, with APISIX's errors when it is
// missing or not an object.
func (c *call) objectBody() (map[string]any, *errResponse) {
	if !c.hasBody {
		return nil, badRequest("missing configurations")
	}
	obj, ok := c.body.(map[string]any)
	if !ok {
		return nil, badRequest("invalid configuration: wrong type: expected object, got %s", luaType(c.body))
	}
	return obj, nil
}

// luaType names a JSON value the way APISIX's validator reports it.
func luaType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "table"
	default:
		return "nil"
	}
}
