// Package multiauth registers APISIX's multi-auth plugin: it tries several auth plugins in order
// and accepts the request when any of them authenticates it.
//
// Each sub-plugin is compiled with its own Definition.New and runs its Rewrite on a wrapper
// Ctx that hands it its own credential index and keeps its Exit from ending the request. The
// indexes come from multi-auth's Definition.Index, which builds every auth plugin's index from
// the credentials the runtime hands it (see Index).
package multiauth

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/pluginschema"
)

// name is the plugin's registered name; its own entries in an Index list carry no credential.
const name = "multi-auth"

// multi-auth has no consumer schema: consumers carry the credentials of the individual plugins.

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           name,
		Priority:       2600,
		Type:           "auth",
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
		Index:          Index,
	})
}

// bodyFailed is the answer when every sub-plugin failed (plugins.md §3 multi-auth).
var bodyFailed = plugin.Message("Authorization Failed")

// sub is one compiled entry of auth_plugins.
type sub struct {
	name string
	inst plugin.Rewriter
}

// MultiAuth is one compiled multi-auth conf.
type MultiAuth struct {
	subs []sub
	log  *slog.Logger
}

// New compiles every auth_plugins entry with its plugin's New, after the checks APISIX's
// check_schema makes (the plugin exists, is an auth plugin, and its conf passes its schema).
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	var cf struct {
		AuthPlugins []map[string]json.RawMessage `json:"auth_plugins"`
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("multi-auth: %w", err)
	}
	m := &MultiAuth{log: env.Logger}
	if m.log == nil {
		m.log = slog.Default()
	}
	for _, item := range cf.AuthPlugins {
		// An item normally names one plugin; APISIX walks several with pairs(), in no set order.
		for _, pname := range slices.Sorted(maps.Keys(item)) {
			s, err := compileSub(pname, item[pname], env)
			if err != nil {
				m.Close()
				return nil, err
			}
			m.subs = append(m.subs, s)
		}
	}
	return m, nil
}

func compileSub(pname string, conf json.RawMessage, env plugin.Env) (sub, error) {
	def, ok := plugin.Lookup(pname)
	if !ok {
		return sub{}, fmt.Errorf("%s plugin did not found", pname)
	}
	if def.Type != "auth" || def.Name == name {
		return sub{}, fmt.Errorf("%s plugin is not supported", pname)
	}
	if err := checkSchema(def, conf); err != nil {
		return sub{}, fmt.Errorf("plugin %s check schema failed: %v", pname, err)
	}
	if def.New == nil {
		return sub{}, fmt.Errorf("%s plugin is not supported", pname)
	}
	inst, err := def.New(conf, env)
	if err != nil {
		return sub{}, fmt.Errorf("plugin %s check schema failed: %v", pname, err)
	}
	rw, ok := inst.(plugin.Rewriter)
	if !ok {
		closeInstance(inst)
		return sub{}, fmt.Errorf("%s plugin is not supported", pname)
	}
	return sub{name: pname, inst: rw}, nil
}

// Rewrite runs the sub-plugins' rewrite in order until one authenticates the request (it has
// attached its consumer); response headers a failing one set, such as WWW-Authenticate, stay.
func (m *MultiAuth) Rewrite(c plugin.Ctx) {
	ix, _ := c.Credentials().(Indexes)
	sc := &subCtx{Ctx: c}
	var failures []any
	for _, s := range m.subs {
		sc.index, sc.exited, sc.status, sc.body = ix[s.name], false, 0, nil
		s.inst.Rewrite(sc)
		if !sc.exited {
			return
		}
		failures = append(failures, slog.String(s.name, fmt.Sprintf(
			"failed to authenticate the request, code: %d. error: %s", sc.status, bytes.TrimSpace(sc.body))))
	}
	m.log.Warn("multi-auth: authorization failed", failures...)
	c.Exit(401, bodyFailed)
}

// Close releases the sub-plugins' instances.
func (m *MultiAuth) Close() {
	for _, s := range m.subs {
		closeInstance(s.inst)
	}
}

func closeInstance(inst any) {
	if c, ok := inst.(plugin.Closer); ok {
		c.Close()
	}
}

// subCtx is the Ctx a sub-plugin runs on: its own credential index, and an Exit that only
// records the failure.
type subCtx struct {
	plugin.Ctx
	index  any
	exited bool
	status int
	body   []byte
}

func (s *subCtx) Credentials() any { return s.index }
func (s *subCtx) Exited() bool     { return s.exited }
func (s *subCtx) Exit(status int, body []byte) {
	s.exited, s.status, s.body = true, status, body
}

// Indexes is multi-auth's credential index: every auth plugin's own index, by plugin name.
type Indexes map[string]any

// Index builds the index of every other auth plugin that has one. A credential whose Plugin
// names an auth plugin goes to that plugin's list; one without (or naming multi-auth) is a
// consumer identity and goes to every list, found by name as an anonymous_consumer. The
// runtime must therefore hand multi-auth every auth plugin's credentials, tagged with Plugin.
func Index(creds []plugin.Credential) (any, error) {
	byPlugin := map[string][]plugin.Credential{}
	var identities []plugin.Credential
	for _, cr := range creds {
		if cr.Plugin == "" || cr.Plugin == name {
			identities = append(identities, plugin.Credential{Consumer: cr.Consumer})
			continue
		}
		byPlugin[cr.Plugin] = append(byPlugin[cr.Plugin], cr)
	}
	out := Indexes{}
	for _, def := range plugin.All() {
		if def.Type != "auth" || def.Index == nil || def.Name == name {
			continue
		}
		list := append(slices.Clip(byPlugin[def.Name]), identities...)
		ix, err := def.Index(list)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", def.Name, err)
		}
		out[def.Name] = ix
	}
	return out, nil
}

// checkSchema validates a sub-conf against its plugin's route schema, as APISIX's
// multi-auth check_schema does (the runtime validates only multi-auth's own schema).
func checkSchema(def *plugin.Definition, conf json.RawMessage) error {
	sch, err := pluginschema.Of(def)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(conf))
	if err != nil {
		return err
	}
	if err := sch.Validate(inst); err != nil {
		if verr, ok := err.(*jsonschema.ValidationError); ok {
			return causeError(firstCause(verr))
		}
		return err
	}
	return nil
}

// firstCause descends to the innermost, first failure, whose message names the property.
// causeError words a failure as api7's validator does where it can: the property, then why.
func causeError(e *jsonschema.ValidationError) error {
	msg := e.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "at ") {
		msg = msg[i+2:]
	}
	if len(e.InstanceLocation) == 0 {
		return errors.New(msg)
	}
	return fmt.Errorf("property %q validation failed: %s", strings.Join(e.InstanceLocation, "."), msg)
}

func firstCause(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return e
}

var (
	_ plugin.Rewriter = (*MultiAuth)(nil)
	_ plugin.Closer   = (*MultiAuth)(nil)
)
