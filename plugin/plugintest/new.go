package plugintest

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// MustNew compiles conf with the registered plugin name's New (with an empty Env), failing the
// test when the plugin has no New or the conf does not compile.
func MustNew(t testing.TB, name, conf string) any {
	t.Helper()
	def, ok := plugin.Lookup(name)
	if !ok || def.New == nil {
		t.Fatalf("%s not registered with New", name)
	}
	inst, err := def.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst
}
