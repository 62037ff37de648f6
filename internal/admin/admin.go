// Package admin serves APISIX's Admin API v3 (/apisix/admin/...) on top of store.Store: key
// auth, request parsing, validation through model.Checker, referential checks, the v3 response
// envelopes, paging and filters. Texts and status codes follow apache/apisix's apisix/admin/*.lua.
package admin

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/encryption"
	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store"
)

// Options configure the Admin API handler.
type Options struct {
	Store   store.Store
	Checker *model.Checker
	// Prefix is the etcd key prefix ("/apisix").
	Prefix string
	Keys   []conf.AdminKey
	// KeyRequired is deployment.admin.admin_key_required; false skips authentication.
	KeyRequired bool
	// AllowAdmin restricts clients by IP (r.RemoteAddr); nil or empty allows everyone.
	AllowAdmin []netip.Prefix
	EnableCORS bool
	// Keyring encrypts plugin encrypt_fields and SSL keys at rest; nil turns data encryption off.
	Keyring *encryption.Keyring
	// Standalone, when set, is APISIX's API-driven standalone mode: the configuration is
	// pushed whole to /apisix/admin/configs and applied through it; every other path is 404.
	Standalone ConfigApplier
	// StreamMode false answers every stream_routes request with 400, as APISIX does when
	// proxy_mode has no stream.
	StreamMode bool
	// EnabledPlugins lists the plugins enabled on this node (config.yaml `plugins:`).
	EnabledPlugins func() []string
	// StreamPluginEnabled reports the plugins of config.yaml's `stream_plugins:` (nil: the
	// enabled plugins that have a stream variant).
	StreamPluginEnabled func(name string) bool
	// ReloadPlugins serves PUT /apisix/admin/plugins/reload.
	ReloadPlugins func() error
	// StoreTimeout bounds the store calls of one request (deployment.etcd.timeout); 0 means
	// DefaultStoreTimeout.
	StoreTimeout time.Duration
	Logger       *slog.Logger
}

// DefaultStoreTimeout is APISIX's default deployment.etcd.timeout.
const DefaultStoreTimeout = 30 * time.Second

// Handler is the Admin API; build it with New.
type Handler struct {
	o       Options
	log     *slog.Logger
	prefix  string
	configs *standaloneConfig // the pushed configuration (Standalone mode)
}

const basePath = "/apisix/admin"

// New returns the Admin API handler.
func New(o Options) http.Handler {
	if o.Prefix == "" {
		o.Prefix = "/apisix"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.EnabledPlugins == nil {
		o.EnabledPlugins = func() []string { return nil }
	}
	return &Handler{o: o, log: o.Logger, prefix: strings.TrimSuffix(o.Prefix, "/"), configs: &standaloneConfig{}}
}

// ServeHTTP routes a request the way APISIX's admin router does: CORS and allow_admin first
// (nginx level), then the token, then the resource.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.EnableCORS && h.cors(w, r) {
		return
	}
	if !h.allowed(r) {
		writeForbiddenHTML(w)
		return
	}
	path := r.URL.Path
	if path == basePath || path == basePath+"/" {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody("not found"))
		return
	}
	if !strings.HasPrefix(path, basePath+"/") {
		writeJSON(w, http.StatusNotFound, errorBody("not found"))
		return
	}
	standaloneConfigs := h.o.Standalone != nil && (path == basePath+"/configs" || strings.HasPrefix(path, basePath+"/configs/"))
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch:
	case http.MethodHead:
		if !standaloneConfigs {
			writeJSON(w, http.StatusNotFound, errorBody("not found"))
			return
		}
	default:
		// APISIX's admin router has no route for other methods: nginx answers 404.
		writeJSON(w, http.StatusNotFound, errorBody("not found"))
		return
	}
	if msg, ok := h.authenticate(r); !ok {
		h.log.Warn("failed to check token", "err", msg, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error_msg":   "failed to check token",
			"description": msg,
		})
		return
	}
	segs := strings.Split(strings.TrimPrefix(path, basePath+"/"), "/")
	if h.o.Standalone != nil {
		if !standaloneConfigs {
			writeJSON(w, http.StatusNotFound, errorBody("not found"))
			return
		}
		h.serveConfigs(w, r, segs)
		return
	}
	switch segs[0] {
	case "plugins":
		if len(segs) == 2 && segs[1] == "list" && r.Method == http.MethodGet {
			h.pluginList(w, r)
			return
		}
		if len(segs) == 2 && segs[1] == "reload" {
			h.pluginReload(w, r)
			return
		}
	case "schema":
		if len(segs) >= 2 && segs[1] == "validate" && r.Method == http.MethodPost {
			h.schemaValidate(w, r, segs)
			return
		}
	}
	h.run(w, r, segs)
}

// cors sets APISIX's admin CORS headers (deployment.admin.enable_admin_cors) and answers a
// preflight; it reports whether the request is finished.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Allow-Credentials", "true")
	hd.Set("Access-Control-Max-Age", "3600")
	if r.Method == http.MethodOptions {
		hd.Set("Access-Control-Allow-Methods", "POST, GET, PUT, OPTIONS, DELETE, PATCH")
		hd.Set("Access-Control-Allow-Headers", "*")
		hd.Set("Content-Type", "text/plain")
		hd.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return true
	}
	hd.Set("Access-Control-Expose-Headers", "*")
	return false
}

// allowed applies deployment.admin.allow_admin to the peer address.
func (h *Handler) allowed(r *http.Request) bool {
	if len(h.o.AllowAdmin) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var ip netip.Addr
	if err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range h.o.AllowAdmin {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
