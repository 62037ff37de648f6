// Package prometheus implements APISIX's prometheus plugin: it counts requests, latencies and
// bandwidth per route/service/consumer/node in the log phase and exports them, with node-level
// gauges, on a private registry served by its own export server (plugin_attr.prometheus) or
// through public-api.
//
// Recording takes no lock and does not hash label values: each instance caches the labelled
// children per combination of label values (see seriesCache), so the common case is one map
// lookup keyed by a stack buffer.
package prometheus

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/prometheus.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// run_policy prefer_route (a route's own copy wins over a global rule's) is the runtime's.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "prometheus",
		Priority:       500,
		Version:        "0.2",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 500,
		RunPolicy:      "prefer_route", // a route's own copy wins over a global rule's
		New:            newInstance,
		Start:          start,
	})
}

type conf struct {
	PreferName bool `json:"prefer_name"`
}

type metadata struct {
	DisabledLabels map[string][]string `json:"disabled_labels"`
}

// Label positions in a request's raw label set.
const (
	lCode = iota
	lRoute
	lMatchedURI
	lMatchedHost
	lService
	lConsumer
	lNode
	lRequestType
	lRequestModel
	lLLMModel
	lResponseSource
	numLabels
)

// familyLabels lists, per family, the raw label positions its series use (after "type").
var familyLabels = [numFamilies][]int{
	famStatus:    {lCode, lRoute, lMatchedURI, lMatchedHost, lService, lConsumer, lNode, lRequestType, lRequestModel, lLLMModel, lResponseSource},
	famLatency:   {lRoute, lService, lConsumer, lNode, lRequestType, lRequestModel, lLLMModel},
	famBandwidth: {lRoute, lService, lConsumer, lNode, lRequestType, lRequestModel, lLLMModel},
}

var labelNames = [numLabels]string{"code", "route", "matched_uri", "matched_host", "service", "consumer",
	"node", "request_type", "request_llm_model", "llm_model", "response_source"}

// Variables the runtime resolves by name; absent ones read as "".
var (
	varRouteName   = plugin.ParseVar("route_name")
	varServiceName = plugin.ParseVar("service_name")
	varMatchedURI  = plugin.Var{Kind: plugin.VarUnknown, Name: "matched_uri"}
	varMatchedHost = plugin.Var{Kind: plugin.VarUnknown, Name: "matched_host"}
	varRequestType = plugin.Var{Kind: plugin.VarUnknown, Name: "request_type"}
	varReqModel    = plugin.Var{Kind: plugin.VarUnknown, Name: "request_llm_model"}
	varLLMModel    = plugin.Var{Kind: plugin.VarUnknown, Name: "llm_model"}
)

// instance is one configured use of the plugin.
type instance struct {
	shared     *shared
	parent     string
	preferName bool
	disabled   [numFamilies][numLabels]bool
	cache      seriesCache
}

func newInstance(raw json.RawMessage, env plugin.Env) (any, error) {
	var c conf
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("prometheus: %w", err)
		}
	}
	in := &instance{parent: env.Parent, preferName: c.PreferName}
	if len(env.Metadata) > 0 {
		var md metadata
		if err := json.Unmarshal(env.Metadata, &md); err != nil {
			return nil, fmt.Errorf("prometheus: plugin_metadata: %w", err)
		}
		for f, name := range familyNames {
			for _, l := range md.DisabledLabels[name] {
				for i, n := range labelNames {
					if n == l {
						in.disabled[f][i] = true
					}
				}
			}
		}
	}
	// Without the node's shared state (Admin API validation, or Start failed) there is
	// nowhere to record: the instance is inert.
	if s, ok := env.Shared.(*shared); ok && s != nil {
		in.shared = s
		s.register(in)
	}
	return in, nil
}

// keyBuf bounds the stack buffer a request's label key is built in; longer keys spill to the
// heap, which is correct, just slower.
const keyBuf = 256

// StreamLog counts a stream connection of the route (APISIX's stream prometheus; stream_plugins
// must list prometheus).
func (in *instance) StreamLog(c plugin.StreamCtx) {
	if s := in.shared; s != nil {
		s.streamConns.WithLabelValues(c.RouteID()).Inc()
	}
}

// Log records the request.
func (in *instance) Log(c plugin.Ctx) {
	s := in.shared
	if s == nil {
		return
	}
	now := time.Now()
	var buf [keyBuf]byte
	key := in.appendKey(buf[:0], c)
	e := in.cache.load(key)
	if e == nil || e.dead.Load() {
		if e = in.slowEntry(c, key); e == nil {
			return
		}
	}
	sec := now.Unix()
	st, lat, bw := e.parts[famStatus], e.parts[famLatency], e.parts[famBandwidth]
	st.touch(sec)
	lat.touch(sec)
	bw.touch(sec)
	st.count.Inc()

	// latency_details_in_ms: request = now - start; upstream only when proxied;
	// apisix = request - upstream, never negative.
	reqMs := ms(now.Sub(c.StartTime()))
	apisixMs := reqMs
	lat.obs[0].Observe(reqMs)
	if up := c.UpstreamLatency(); up >= 0 {
		upMs := ms(up)
		lat.upstream(s.latency).Observe(upMs)
		apisixMs = max(reqMs-upMs, 0)
	}
	lat.obs[1].Observe(apisixMs)
	bw.bw[0].Add(float64(c.RequestSize()))
	bw.bw[1].Add(float64(c.ResponseSize()))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Close releases the instance's series; those of a route that no longer exists are deleted.
func (in *instance) Close() {
	if in.shared != nil {
		in.shared.unregister(in)
	}
}

// appendKey appends the request's raw label values (and every family's extra labels), each
// ended by a 0 byte: the cache key.
func (in *instance) appendKey(k []byte, c plugin.Ctx) []byte {
	k = strconv.AppendInt(k, int64(c.Status()), 10)
	k = append(k, 0)
	k = in.appendPreferred(k, c, &varRouteName, c.RouteID())
	k = appendLabelBytes(k, c, &varMatchedURI)
	k = appendLabelBytes(k, c, &varMatchedHost)
	k = in.appendPreferred(k, c, &varServiceName, c.ServiceID())
	if cons := c.Consumer(); cons != nil {
		k = append(k, cons.Username...)
	}
	k = append(k, 0)
	k = appendLabel(k, nodeIP(c.UpstreamAddr()))
	k = appendLabelBytes(k, c, &varRequestType)
	k = appendLabelBytes(k, c, &varReqModel)
	k = appendLabelBytes(k, c, &varLLMModel)
	k = appendLabel(k, responseSource(c))
	for f := range in.shared.extra {
		for i := range in.shared.extra[f] {
			k = appendLabelBytes(k, c, &in.shared.extra[f][i].v)
		}
	}
	return k
}

func appendLabel(k []byte, v string) []byte { return append(append(k, v...), 0) }

func appendLabelBytes(k []byte, c plugin.Ctx, v *plugin.Var) []byte {
	b, _ := c.Lookup(v)
	return append(append(k, b...), 0)
}

// appendPreferred appends the route or service label: the id, or with prefer_name the name
// when the object has one (APISIX: `matched_route.name or route_id`).
func (in *instance) appendPreferred(k []byte, c plugin.Ctx, name *plugin.Var, id string) []byte {
	if in.preferName {
		if b, ok := c.Lookup(name); ok && len(b) > 0 {
			return append(append(k, b...), 0)
		}
	}
	return appendLabel(k, id)
}

// preferred is appendPreferred's value as a string, for building a new entry.
func (in *instance) preferred(c plugin.Ctx, name *plugin.Var, id string) string {
	if in.preferName {
		if b, ok := c.Lookup(name); ok && len(b) > 0 {
			return string(b)
		}
	}
	return id
}

// nodeIP is $balancer_ip: the host of the upstream address tried last.
func nodeIP(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h
		}
		if addr[i] == ']' {
			break
		}
	}
	return addr
}

// responseSource says whether the response came from an upstream or from the gateway itself
// (a plugin's exit, a gateway error).
func responseSource(c plugin.Ctx) string {
	if c.UpstreamStatus() > 0 && !c.Exited() {
		return "upstream"
	}
	return "apisix"
}

// slowEntry finds or builds the entry for key under the shared lock; nil once the instance
// was closed (a request still in flight on an old snapshot records nothing rather than
// resurrecting series).
func (in *instance) slowEntry(c plugin.Ctx, key []byte) *entry {
	s := in.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := s.instances[in]; !live {
		return nil
	}
	if e := in.cache.lockedLoad(key); e != nil {
		return e
	}
	var raw [numLabels]string
	raw[lCode] = strconv.Itoa(c.Status())
	raw[lRoute] = in.preferred(c, &varRouteName, c.RouteID())
	raw[lMatchedURI] = lookupString(c, &varMatchedURI)
	raw[lMatchedHost] = lookupString(c, &varMatchedHost)
	raw[lService] = in.preferred(c, &varServiceName, c.ServiceID())
	if cons := c.Consumer(); cons != nil {
		raw[lConsumer] = cons.Username
	}
	raw[lNode] = nodeIP(c.UpstreamAddr())
	raw[lRequestType] = lookupString(c, &varRequestType)
	raw[lRequestModel] = lookupString(c, &varReqModel)
	raw[lLLMModel] = lookupString(c, &varLLMModel)
	raw[lResponseSource] = responseSource(c)

	e := &entry{}
	for f := range numFamilies {
		values := make([]string, 0, len(familyLabels[f])+len(s.extra[f]))
		for _, l := range familyLabels[f] {
			if in.disabled[f][l] {
				values = append(values, "")
			} else {
				values = append(values, raw[l])
			}
		}
		for i := range s.extra[f] {
			values = append(values, lookupString(c, &s.extra[f][i].v))
		}
		e.parts[f] = s.acquire(f, values, in.parent)
	}
	in.cache.store(string(key), e)
	return e
}

// lookupString copies a variable's value; an absent variable is "" as in APISIX's labels.
func lookupString(c plugin.Ctx, v *plugin.Var) string {
	b, _ := c.Lookup(v)
	return string(b)
}

var (
	_ plugin.Logger = (*instance)(nil)
	_ plugin.Closer = (*instance)(nil)
)
