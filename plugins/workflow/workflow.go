// Package workflow implements APISIX's workflow plugin: rules of a `case` expression and
// actions; the first rule whose case matches (a rule without case always matches) runs its
// first action — `return` ends the request with a code, `limit-count` and `limit-conn` run a
// limiter compiled from the action's conf. The limiters are built through the plugin registry
// (plugin.Lookup), not by importing their packages, each with its own parent per rule so rules
// never share counters.
package workflow

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/pluginschema"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "workflow",
		Priority:       1006,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}

// limiters are the plugins APISIX registers as workflow actions (limit-count and limit-conn
// call workflow.register); their confs are checked against their own schemas.
var limiters = map[string]bool{"limit-count": true, "limit-conn": true}

// rejectedBody is APISIX's body for the return action.
var rejectedBody = plugin.JSON(map[string]string{"error_msg": "rejected by workflow"})

type config struct {
	Rules []struct {
		Case    []any               `json:"case"`
		Actions [][]json.RawMessage `json:"actions"`
	} `json:"rules"`
}

// rule is one compiled rule: its case (nil: always) and its first action.
type rule struct {
	cond   *expr.Expr
	code   int             // return action: the status; 0 for a limiter action
	access plugin.Accessor // limiter action
	log    plugin.Logger   // limiter action with a log phase (limit-conn)
	noop   bool            // a rule with no action: matching it ends the evaluation
}

// Workflow is one compiled workflow conf.
type Workflow struct {
	rules   []rule
	closers []plugin.Closer
}

// New compiles the rules, checking each action as APISIX's check_schema does and compiling
// the limiters with Parent "<parent>:workflow:<rule index>".
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	w := &Workflow{}
	for i, rc := range c.Rules {
		idx := i + 1 // APISIX's _vid: the 1-based rule index
		var r rule
		if rc.Case != nil {
			e, err := expr.Compile(rc.Case)
			if err != nil {
				w.Close()
				return nil, fmt.Errorf("failed to validate the 'case' expression: %v", err)
			}
			r.cond = e
		}
		for j, action := range rc.Actions {
			if err := w.compileAction(&r, j == 0, action, idx, env); err != nil {
				w.Close()
				return nil, err
			}
		}
		r.noop = len(rc.Actions) == 0
		w.rules = append(w.rules, r)
	}
	return w, nil
}

// compileAction checks one action; only the first one of a rule runs (APISIX supports one).
func (w *Workflow) compileAction(r *rule, first bool, action []json.RawMessage, idx int, env plugin.Env) error {
	var name string
	if len(action) == 0 {
		return errors.New("unsupported action: nil")
	}
	if err := json.Unmarshal(action[0], &name); err != nil {
		return fmt.Errorf("unsupported action: %s", action[0])
	}
	conf := json.RawMessage(`{}`)
	if len(action) > 1 {
		conf = action[1]
	}
	if name == "return" {
		code, err := returnCode(conf)
		if err != nil {
			return fmt.Errorf("failed to validate the 'return' action: %v", err)
		}
		if first {
			r.code = code
		}
		return nil
	}
	def, ok := plugin.Lookup(name)
	if !limiters[name] || !ok || def.New == nil {
		return fmt.Errorf("unsupported action: %s", name)
	}
	if err := checkSchema(def, conf); err != nil {
		return fmt.Errorf("failed to validate the '%s' action: %v", name, err)
	}
	sub := env
	sub.Parent = env.Parent + ":workflow:" + strconv.Itoa(idx)
	sub.Metadata = nil // the workflow's metadata is not the limiter's
	if env.Logger != nil {
		sub.Logger = env.Logger.With("action", name, "rule", idx)
	} else {
		sub.Logger = slog.Default().With("plugin", "workflow", "action", name, "rule", idx)
	}
	inst, err := def.New(conf, sub)
	if err != nil {
		return fmt.Errorf("failed to validate the '%s' action: %v", name, err)
	}
	if cl, ok := inst.(plugin.Closer); ok {
		w.closers = append(w.closers, cl)
	}
	if !first {
		return nil
	}
	acc, ok := inst.(plugin.Accessor)
	if !ok {
		return fmt.Errorf("unsupported action: %s", name)
	}
	r.access = acc
	r.log, _ = inst.(plugin.Logger)
	return nil
}

// returnCode checks the return action's conf: {"code": integer 100..599} (required).
func returnCode(conf json.RawMessage) (int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(conf, &m); err != nil {
		return 0, errors.New("wrong type: expected object")
	}
	raw, ok := m["code"]
	if !ok {
		return 0, errors.New(`property "code" is required`)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != float64(int(f)) {
		return 0, fmt.Errorf(`property "code" validation failed: wrong type: expected integer, got %s`, jsonType(raw))
	}
	switch {
	case f < 100:
		return 0, fmt.Errorf(`property "code" validation failed: expected %s to be at least 100`, raw)
	case f > 599:
		return 0, fmt.Errorf(`property "code" validation failed: expected %s to be at most 599`, raw)
	}
	return int(f), nil
}

func jsonType(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "null"
	case b[0] == '"':
		return "string"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

// matchedKey keys the rule access ran in the request's values, for the log phase (APISIX's
// ctx._workflow_cache): log must give back what access took even if the case would no longer
// match (an earlier log phase plugin may have changed a variable).
type matchedKey struct{ w *Workflow }

// Access runs the first matching rule's action.
func (w *Workflow) Access(c plugin.Ctx) {
	for i := range w.rules {
		r := &w.rules[i]
		if r.cond != nil && !r.cond.Eval(c) {
			continue
		}
		switch {
		case r.noop:
		case r.code != 0:
			c.Exit(r.code, rejectedBody)
		case r.access != nil:
			if r.log != nil {
				c.Set(matchedKey{w}, r)
			}
			r.access.Access(c)
		}
		return
	}
}

// Log runs the log phase of the limiter that access ran (limit-conn gives its slot back).
func (w *Workflow) Log(c plugin.Ctx) {
	if r, _ := c.Get(matchedKey{w}).(*rule); r != nil {
		r.log.Log(c)
	}
}

// Close closes the limiters.
func (w *Workflow) Close() {
	for _, cl := range w.closers {
		cl.Close()
	}
	w.closers = nil
}

// checkSchema validates an action's conf against its plugin's schema, as APISIX's
// check_schema of the action does (the runtime validates only workflow's own schema).
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
		var verr *jsonschema.ValidationError
		if errors.As(err, &verr) {
			for len(verr.Causes) > 0 {
				verr = verr.Causes[0]
			}
			msg := verr.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "at ") {
				msg = msg[i+2:]
			}
			if len(verr.InstanceLocation) == 0 {
				return errors.New(msg)
			}
			return fmt.Errorf("property %q validation failed: %s", strings.Join(verr.InstanceLocation, "."), msg)
		}
		return err
	}
	return nil
}

var (
	_ plugin.Accessor = (*Workflow)(nil)
	_ plugin.Logger   = (*Workflow)(nil)
	_ plugin.Closer   = (*Workflow)(nil)
)
