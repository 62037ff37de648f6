package logentry

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// special is a variable the entry resolves itself from plugin.RequestInfo: nginx's log-time
// variables that a request's Vars do not carry.
type special uint8

const (
	spNone special = iota
	spRequestBody
	spRequestTime
	spUpstreamResponseTime
	spUpstreamAddr
	spUpstreamStatus
	spBytesSent
	spRequestLength
	spTimeISO8601
	spTimeLocal
	spMsec
	spHostname
	spStatus
)

var specials = map[string]special{
	"request_body": spRequestBody, "request_time": spRequestTime,
	"upstream_response_time": spUpstreamResponseTime, "upstream_addr": spUpstreamAddr,
	"upstream_status": spUpstreamStatus, "bytes_sent": spBytesSent,
	"request_length": spRequestLength, "time_iso8601": spTimeISO8601, "time_local": spTimeLocal,
	"msec": spMsec, "hostname": spHostname, "status": spStatus,
}

type fieldKind uint8

const (
	fLiteral fieldKind = iota
	fVar
	fSpecial
	fObject
)

// field is one compiled log_format key.
type field struct {
	key  string
	kind fieldKind
	lit  json.RawMessage // fLiteral: the value as configured
	v    plugin.Var      // fVar
	sp   special         // fSpecial
	kids []field         // fObject
}

// compileFormat compiles a log_format object. A string starting with "$" is one variable
// lookup of the rest; other values are literals; objects nest up to maxDepth (deeper: {}).
// Keys are sorted so entries encode deterministically.
func compileFormat(m map[string]any, depth int, readsBody *bool) []field {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]field, 0, len(keys))
	for _, k := range keys {
		f := field{key: k}
		switch v := m[k].(type) {
		case string:
			if name, ok := strings.CutPrefix(v, "$"); ok {
				if sp, ok := specials[name]; ok {
					f.kind, f.sp = fSpecial, sp
					if sp == spRequestBody {
						*readsBody = true
					}
				} else {
					f.kind, f.v = fVar, plugin.ParseVar(name)
				}
			} else {
				f.lit = literal(v)
			}
		case map[string]any:
			f.kind = fObject
			if depth < maxDepth {
				f.kids = compileFormat(v, depth+1, readsBody)
			}
		default:
			f.lit = literal(v)
		}
		out = append(out, f)
	}
	return out
}

func literal(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage("null")
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// custom builds the log_format entry: the formatted fields, then route_id and service_id of
// the matched route (service_id only when set), as log-util's get_custom_format_log.
func (b *Builder) custom(c logCtx) []Field {
	out := b.resolve(c, b.format, nil)
	if id := c.RouteID(); id != "" {
		out = setField(out, "route_id", id)
		if sc, ok := c.(interface{ ServiceID() string }); ok {
			if sid := sc.ServiceID(); sid != "" {
				out = setField(out, "service_id", sid)
			}
		}
	}
	return out
}

// logCtx is what a log_format entry reads: a request (plugin.Ctx) or a stream connection
// (plugin.StreamCtx with its RequestInfo).
type logCtx interface {
	plugin.Vars
	plugin.RequestInfo
	RouteID() string
	Status() int
}

// extraFields builds log_format_extra: only keys the default entry lacks are kept.
func (b *Builder) extraFields(c plugin.Ctx) []Field {
	out := b.resolve(c, b.extra, nil)
	kept := out[:0]
	for _, f := range out {
		if !defaultKeys[f.Key] {
			kept = append(kept, f)
		}
	}
	return kept
}

var defaultKeys = map[string]bool{
	"request": true, "response": true, "server": true, "upstream": true, "service_id": true,
	"route_id": true, "consumer": true, "client_ip": true, "start_time": true, "latency": true,
	"upstream_latency": true, "apisix_latency": true,
}

func setField(fs []Field, key string, v any) []Field {
	for i := range fs {
		if fs[i].Key == key {
			fs[i].Value = v
			return fs
		}
	}
	return append(fs, Field{Key: key, Value: v})
}

func (b *Builder) resolve(c logCtx, fields []field, out []Field) []Field {
	for i := range fields {
		f := &fields[i]
		switch f.kind {
		case fLiteral:
			out = append(out, Field{Key: f.key, Value: f.lit})
		case fVar:
			if s, ok := lookupString(c, &f.v); ok {
				out = append(out, Field{Key: f.key, Value: s})
			}
		case fSpecial:
			if s, ok := b.special(c, f.sp); ok {
				out = append(out, Field{Key: f.key, Value: s})
			}
		case fObject:
			out = append(out, Field{Key: f.key, Value: b.resolve(c, f.kids, []Field{})})
		}
	}
	return out
}

// special resolves an nginx log-time variable the way nginx prints it.
func (b *Builder) special(c logCtx, sp special) (string, bool) {
	switch sp {
	case spRequestBody:
		if hc, ok := c.(plugin.Ctx); ok {
			return b.reqBodyText(hc)
		}
	case spRequestTime:
		return seconds(time.Since(c.StartTime())), true
	case spUpstreamResponseTime:
		if d := c.UpstreamLatency(); d >= 0 {
			return seconds(d), true
		}
	case spUpstreamAddr:
		if a := c.UpstreamAddr(); a != "" {
			return a, true
		}
	case spUpstreamStatus:
		if s := c.UpstreamStatus(); s != 0 {
			return strconv.Itoa(s), true
		}
	case spBytesSent:
		return itoa(c.ResponseSize()), true
	case spRequestLength:
		return itoa(c.RequestSize()), true
	case spTimeISO8601:
		return time.Now().Format("2006-01-02T15:04:05-07:00"), true
	case spTimeLocal:
		return time.Now().Format("02/Jan/2006:15:04:05 -0700"), true
	case spMsec:
		now := time.Now()
		return strconv.FormatInt(now.Unix(), 10) + "." + pad3(now.Nanosecond()/1e6), true
	case spHostname:
		return b.hostname, true
	case spStatus:
		return strconv.Itoa(c.Status()), true
	}
	return "", false
}

// seconds prints d as nginx's $request_time: seconds with millisecond precision.
func seconds(d time.Duration) string {
	ms := d.Milliseconds()
	return strconv.FormatInt(ms/1000, 10) + "." + pad3(int(ms%1000))
}

func pad3(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", 3-len(s)) + s
}
