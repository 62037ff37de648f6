// Package standalone is the store of APISIX's standalone, file-driven mode
// (deployment.role: data_plane with config_provider yaml or json): the configuration is one
// file, conf/apisix.yaml (or apisix.json) next to config.yaml, read again whenever it changes
// (checked every second). It is read only. A file that does not parse, or a YAML file that does
// not end with the "#END" line APISIX requires (so a half-written file is never loaded), is
// logged and the configuration loaded before keeps serving.
package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/store"
)

// ErrReadOnly is every write: the file is the configuration.
var ErrReadOnly = errors.New("standalone mode: the configuration is the file, writes are not accepted")

// kinds are the file's top-level keys that hold objects, with their etcd directory.
var kinds = []string{"routes", "services", "upstreams", "consumers", "consumer_groups", "ssls",
	"global_rules", "plugin_configs", "plugin_metadata", "stream_routes", "protos", "secrets"}

// Store serves the file's objects under prefix, with etcd's key layout.
type Store struct {
	path   string
	prefix string
	log    *slog.Logger
	poll   time.Duration

	mu      sync.Mutex
	kvs     map[string]store.KV
	rev     int64
	mtime   time.Time
	size    int64
	changed chan struct{} // closed and replaced at every load
	plugins []string      // the file's `plugins:` names, nil without
	ctx     context.Context
	cancel  context.CancelFunc
	// pushed: closed at the first ApplyConfig (NewMemory only)
	pushed   chan struct{}
	pushOnce sync.Once
}

// Open loads path and starts watching it. prefix is the etcd prefix ("/apisix"). The first load
// must succeed.
func Open(path, prefix string, log *slog.Logger) (*Store, error) {
	s := &Store{path: path, prefix: strings.TrimSuffix(prefix, "/"), log: log, poll: time.Second,
		changed: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.load(); err != nil {
		s.cancel()
		return nil, err
	}
	go s.watchFile(s.ctx)
	return s, nil
}

func (s *Store) watchFile(ctx context.Context) {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(s.path)
		if err != nil {
			continue
		}
		s.mu.Lock()
		same := st.ModTime().Equal(s.mtime) && st.Size() == s.size
		s.mu.Unlock()
		if same {
			continue
		}
		if err := s.load(); err != nil {
			s.log.Error("standalone config not loaded: the previous one keeps serving", "file", s.path, "error", err)
		}
	}
}

// load reads the file and, when it parses, replaces the keys with its objects.
func (s *Store) load() error {
	st, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.mtime, s.size = st.ModTime(), st.Size()
	s.mu.Unlock()
	objs, plugins, err := parse(b, strings.HasSuffix(s.path, ".json"))
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.replace(objs, plugins, "file", s.path)
	return nil
}

// StringKeys makes every map key of a decoded YAML value a string (YAML allows `200: x`,
// JSON does not), recursively.
func StringKeys(v any) any { return stringKeys(v) }

// Pushed is closed once ApplyConfig applied a first configuration (API-driven mode).
func (s *Store) Pushed() <-chan struct{} { return s.pushed }

// NewMemory is the store of APISIX's API-driven standalone mode (role traditional with
// config_provider yaml): empty until ApplyConfig replaces its objects, which the Admin API's
// /apisix/admin/configs does.
func NewMemory(prefix string, log *slog.Logger) *Store {
	s := &Store{prefix: strings.TrimSuffix(prefix, "/"), log: log, changed: make(chan struct{}), pushed: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// ApplyConfig replaces the objects with those of doc, a configuration in apisix.yaml's layout
// already decoded (and validated by the caller). Watchers see one change.
func (s *Store) ApplyConfig(doc map[string]any) error {
	objs, _, err := objects(doc)
	if err != nil {
		return err
	}
	s.replace(objs, nil, "source", "admin API")
	s.pushOnce.Do(func() { close(s.pushed) })
	return nil
}

// replace swaps the objects in, keeping the revisions of the unchanged ones.
func (s *Store) replace(objs map[string][]byte, plugins []string, logArgs ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plugins = plugins
	s.rev++
	kvs := make(map[string]store.KV, len(objs))
	for k, v := range objs {
		key := s.prefix + "/" + k
		kv := store.KV{Key: key, Value: v, CreateRevision: s.rev, ModRevision: s.rev}
		if old, ok := s.kvs[key]; ok {
			kv.CreateRevision = old.CreateRevision
			if bytes.Equal(old.Value, v) {
				kv.ModRevision = old.ModRevision
			}
		}
		kvs[key] = kv
	}
	s.kvs = kvs
	close(s.changed)
	s.changed = make(chan struct{})
	s.log.Info("standalone config loaded", append(logArgs, "objects", len(kvs), "revision", s.rev)...)
}

// parse turns the file into objects by key below the prefix ("routes/1"). Items without an id
// get APISIX's "arr_<n>" (n from 1); consumers are keyed by username, and an item whose id is
// "<username>/credentials/<id>" is that consumer's credential.
func parse(b []byte, isJSON bool) (map[string][]byte, []string, error) {
	var doc map[string]any
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // ids and numbers stay as written (no float64 rounding)
		if err := dec.Decode(&doc); err != nil {
			return nil, nil, err
		}
	} else {
		trimmed := bytes.TrimRight(b, " \t\r\n")
		if !bytes.HasSuffix(trimmed, []byte("#END")) {
			return nil, nil, errors.New(`the file does not end with the line "#END" (it may be half written)`)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			return nil, nil, err
		}
		if err := conf.SubstituteEnv(&root, "apisix.yaml"); err != nil {
			return nil, nil, err
		}
		var raw any
		if err := root.Decode(&raw); err != nil {
			return nil, nil, err
		}
		m, ok := stringKeys(raw).(map[string]any)
		if !ok && raw != nil {
			return nil, nil, errors.New("the file is not a map of object kinds")
		}
		doc = m
	}
	return objects(doc)
}

// objects turns a decoded configuration into objects by key below the prefix.
func objects(doc map[string]any) (map[string][]byte, []string, error) {
	out := map[string][]byte{}
	for _, kind := range kinds {
		v, ok := doc[kind]
		if !ok || v == nil {
			continue
		}
		list, ok := v.([]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s: not a list", kind)
		}
		for i, item := range list {
			obj, ok := item.(map[string]any)
			if !ok {
				return nil, nil, fmt.Errorf("%s[%d]: not an object", kind, i)
			}
			id := idOf(obj["id"])
			if kind == "consumers" && id == "" {
				id = idOf(obj["username"])
			}
			if id == "" {
				id = "arr_" + strconv.Itoa(i+1)
				obj["id"] = id
			}
			key := kind + "/" + id
			if kind == "consumers" {
				if user, cid, ok := strings.Cut(id, "/credentials/"); ok {
					key = "consumers/" + user + "/credentials/" + cid
					obj["id"] = cid
				}
			}
			if _, dup := out[key]; dup {
				return nil, nil, fmt.Errorf("%s: id %q appears twice", kind, id)
			}
			j, err := json.Marshal(obj)
			if err != nil {
				return nil, nil, fmt.Errorf("%s[%d]: %w", kind, i, err)
			}
			out[key] = j
		}
	}
	var plugins []string
	if list, ok := doc["plugins"].([]any); ok {
		plugins = []string{}
		for i, item := range list {
			switch x := item.(type) {
			case string:
				plugins = append(plugins, x)
			case map[string]any:
				if stream, _ := x["stream"].(bool); stream {
					continue // stream plugins: not on the HTTP list
				}
				name, _ := x["name"].(string)
				if name == "" {
					return nil, nil, fmt.Errorf("plugins[%d]: no name", i)
				}
				plugins = append(plugins, name)
			default:
				return nil, nil, fmt.Errorf("plugins[%d]: not a name", i)
			}
		}
	}
	return out, plugins, nil
}

func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// stringKeys makes every map key a string (YAML allows `200: x`, JSON does not), recursively.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stringKeys(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = stringKeys(e)
		}
	}
	return v
}

// Plugins is the file's top-level `plugins:` list (names), which replaces config.yaml's as in
// APISIX; nil when the file has none.
func (s *Store) Plugins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plugins
}

// Get returns the key or store.ErrNotFound.
func (s *Store) Get(_ context.Context, key string) (store.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kv, ok := s.kvs[key]
	if !ok {
		return store.KV{}, store.ErrNotFound
	}
	return kv, nil
}

// List returns the keys under prefix, sorted, and the revision of the load they come from.
func (s *Store) List(_ context.Context, prefix string) ([]store.KV, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked(prefix), s.rev, nil
}

func (s *Store) listLocked(prefix string) []store.KV {
	out := make([]store.KV, 0, len(s.kvs))
	for k, kv := range s.kvs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Watch delivers every load from revision rev on as one store.EventReset with the file's
// complete set under prefix.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan store.Event {
	ch := make(chan store.Event, 1)
	go func() {
		defer close(ch)
		for {
			s.mu.Lock()
			cur, changed := s.rev, s.changed
			var ev store.Event
			if cur >= rev {
				ev = store.Event{Type: store.EventReset, Snapshot: s.listLocked(prefix), Revision: cur}
			}
			s.mu.Unlock()
			if cur >= rev {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				case <-s.ctx.Done():
					return
				}
				rev = cur + 1
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-s.ctx.Done(): // Close ends every watch, as the store contract says
				return
			}
		}
	}()
	return ch
}

// Create, Put, CompareAndSwap, Delete and DeletePrefix refuse: the file is the configuration.
func (s *Store) Create(context.Context, string, []byte, store.WriteOptions) (store.KV, error) {
	return store.KV{}, ErrReadOnly
}

func (s *Store) Put(context.Context, string, []byte, store.WriteOptions) (store.KV, bool, error) {
	return store.KV{}, false, ErrReadOnly
}

func (s *Store) CompareAndSwap(context.Context, string, []byte, int64, store.WriteOptions) (store.KV, error) {
	return store.KV{}, ErrReadOnly
}

func (s *Store) Delete(context.Context, string) (store.KV, error) { return store.KV{}, ErrReadOnly }

func (s *Store) DeletePrefix(context.Context, string) (int64, error) { return 0, ErrReadOnly }

// Close stops watching the file.
func (s *Store) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}

var _ store.Store = (*Store)(nil)
