package filelogger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %q, want %d lines", path, b, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func logPath(inst any, path string) {
	c := plugintest.New()
	c.Path = path
	inst.(plugin.Logger).Log(c)
}

func TestAppendsAndFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	inst := plugintest.MustNew(t, "file-logger", `{"path":"`+path+`","log_format":{"u":"$uri"}}`)
	defer inst.(plugin.Closer).Close()
	logPath(inst, "/one")
	if got := waitLines(t, path, 1); got[0] != `{"u":"/one"}` {
		t.Fatalf("line %q", got[0])
	}
	// A rotation tool moves the file away: the next entry goes to a new file at path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	logPath(inst, "/two")
	if got := waitLines(t, path, 1); got[0] != `{"u":"/two"}` {
		t.Fatalf("after rotate %q", got)
	}
	if old := waitLines(t, path+".1", 1); len(old) != 1 {
		t.Fatalf("rotated file %q", old)
	}
	// Removed outright: recreated.
	os.Remove(path)
	logPath(inst, "/three")
	if got := waitLines(t, path, 1); got[0] != `{"u":"/three"}` {
		t.Fatalf("after remove %q", got)
	}
}

func TestDefaultEntryAndMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	inst := plugintest.MustNew(t, "file-logger", `{"path":"`+path+`","match":[[["uri","==","/yes"]]]}`)
	defer inst.(plugin.Closer).Close()
	logPath(inst, "/no")
	logPath(inst, "/yes")
	lines := waitLines(t, path, 1)
	time.Sleep(50 * time.Millisecond)
	lines = waitLines(t, path, 1)
	if len(lines) != 1 {
		t.Fatalf("lines %q, want only the matching request", lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["request"].(map[string]any)["uri"] != "/yes" {
		t.Errorf("entry %v", m)
	}
}

func TestConfErrors(t *testing.T) {
	def, _ := plugin.Lookup("file-logger")
	_, err := def.New([]byte(`{}`), plugin.Env{})
	if err == nil || err.Error() != `property "path" is not set in either the plugin conf or the metadata` {
		t.Errorf("no path: %v", err)
	}
	if _, err := def.New([]byte(`{"path":"/nonexistent-dir-x/a.log"}`), plugin.Env{}); err == nil {
		t.Error("missing directory accepted")
	}
	path := filepath.Join(t.TempDir(), "m.log")
	inst, err := def.New([]byte(`{}`), plugin.Env{Metadata: []byte(`{"path":"` + path + `"}`)})
	if err != nil {
		t.Fatalf("metadata path: %v", err)
	}
	inst.(plugin.Closer).Close()
	if _, err := def.New([]byte(`{"path":"x","match":[["a","bad-op","b"]]}`), plugin.Env{}); err == nil ||
		!strings.HasPrefix(err.Error(), "failed to validate the 'match' expression") {
		t.Errorf("bad match: %v", err)
	}
}

func TestReopenOnSignalHook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.log")
	inst := plugintest.MustNew(t, "file-logger", `{"path":"`+path+`","log_format":{"u":"$uri"}}`)
	defer inst.(plugin.Closer).Close()
	logPath(inst, "/a")
	waitLines(t, path, 1)
	Reopen()
	logPath(inst, "/b")
	if got := waitLines(t, path, 2); got[1] != `{"u":"/b"}` {
		t.Errorf("lines %q", got)
	}
}
