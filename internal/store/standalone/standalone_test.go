package standalone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/store"
)

func TestParse(t *testing.T) {
	objs, plugins, err := parse([]byte(`routes:
  - id: 1
    uri: /a
  - uri: /b
consumers:
  - username: jack
  - id: jack/credentials/c1
    plugins: {key-auth: {key: k}}
plugin_metadata:
  - id: http-logger
    log_format: {a: b}
upstreams:
  - id: u
    nodes: {"127.0.0.1:80": 1}
    labels: {200: ok}
plugins:
  - name: key-auth
  - name: limit-conn
    stream: true
  - name: ${{SLUICE_TEST_PLUGIN:=proxy-rewrite}}
#END
`), false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"routes/1":                      `{"id":1,"uri":"/a"}`,
		"routes/arr_2":                  `{"id":"arr_2","uri":"/b"}`,
		"consumers/jack":                `{"username":"jack"}`,
		"consumers/jack/credentials/c1": `{"id":"c1","plugins":{"key-auth":{"key":"k"}}}`,
		"plugin_metadata/http-logger":   `{"id":"http-logger","log_format":{"a":"b"}}`,
		"upstreams/u":                   `{"id":"u","labels":{"200":"ok"},"nodes":{"127.0.0.1:80":1}}`,
	}
	if fmt.Sprint(plugins) != "[key-auth proxy-rewrite]" {
		t.Errorf("plugins %v, want the HTTP ones with ${{VAR}} resolved", plugins)
	}
	if len(objs) != len(want) {
		t.Errorf("%d objects, want %d: %v", len(objs), len(want), objs)
	}
	for k, v := range want {
		if string(objs[k]) != v {
			t.Errorf("%s = %s, want %s", k, objs[k], v)
		}
	}
	for _, bad := range []string{
		"routes:\n  - id: 1\n",                           // no #END
		"routes: {id: 1}\n#END\n",                        // not a list
		"routes:\n  - id: 1\n  - id: 1\n#END\n",          // the same id twice
		"routes:\n  - [1, 2]\n#END\n",                    // not an object
		"routes:\n  - id: 1\n    uri: [unclosed\n#END\n", // YAML error
	} {
		if _, _, err := parse([]byte(bad), false); err == nil {
			t.Errorf("parse(%q): no error", bad)
		}
	}
	if objs, _, err := parse([]byte(`{"routes":[{"id":12345678901234567890,"uri":"/j"}]}`), true); err != nil || string(objs["routes/12345678901234567890"]) != `{"id":12345678901234567890,"uri":"/j"}` {
		t.Errorf("json: %v, %v", objs, err)
	}
	if _, _, err := parse([]byte("routes:\n  - uri: ${{SLUICE_TEST_UNSET_VAR}}\n#END\n"), false); err == nil {
		t.Error("an unset variable without a default: no error")
	}
}

// The store loads the file, reloads it when it changes (one EventReset per load), keeps the
// previous objects when the new file is bad, and refuses writes.
func TestStoreReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apisix.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("routes:\n  - id: 1\n    uri: /a\n#END\n")
	s, err := Open(path, "/apisix", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kvs, rev, _ := s.List(context.Background(), "/apisix/")
	if len(kvs) != 1 || kvs[0].Key != "/apisix/routes/1" || rev != 1 {
		t.Fatalf("first load: %v rev %d", kvs, rev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := s.Watch(ctx, "/apisix/", rev+1)

	time.Sleep(1100 * time.Millisecond) // a file system with one-second mtimes sees a change
	write("routes:\n  - id: 1\n    uri: /a\n  - id: 2\n    uri: /b\n#END\n")
	select {
	case ev := <-events:
		if ev.Type != store.EventReset || len(ev.Snapshot) != 2 || ev.Revision != 2 {
			t.Fatalf("reload: %+v", ev)
		}
		if ev.Snapshot[0].ModRevision != 1 {
			t.Errorf("an unchanged object got a new revision: %+v", ev.Snapshot[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the file changed")
	}

	time.Sleep(1100 * time.Millisecond)
	write("routes:\n  - id: 3\n") // no #END: ignored
	select {
	case ev := <-events:
		t.Fatalf("a file without #END was loaded: %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}
	if kv, err := s.Get(context.Background(), "/apisix/routes/2"); err != nil || !strings.Contains(string(kv.Value), "/b") {
		t.Fatalf("after a bad file: %v, %v", kv, err)
	}
	if _, _, err := s.Put(context.Background(), "/apisix/routes/9", []byte("{}"), store.WriteOptions{}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put: %v", err)
	}
}
