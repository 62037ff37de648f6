package requestid

import (
	"encoding/json"
	"unsafe"

	"github.com/sluicegw/sluice/plugin"
)

type config struct {
	HeaderName        *string `json:"header_name"`
	IncludeInResponse *bool   `json:"include_in_response"`
	Algorithm         string  `json:"algorithm"`
	RangeID           struct {
		Length  *int    `json:"length"`
		CharSet *string `json:"char_set"`
	} `json:"range_id"`
}

const defaultCharSet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIGKLMNOPQRSTUVWXYZ0123456789"

// RequestID is one compiled request-id conf.
type RequestID struct {
	header   string
	inResp   bool
	generate func() string
	rangeLen int
	rangeSet string
}

func newRequestID(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	r := &RequestID{header: "X-Request-Id", inResp: true, rangeLen: 16, rangeSet: defaultCharSet}
	if c.HeaderName != nil {
		r.header = *c.HeaderName
	}
	if c.IncludeInResponse != nil {
		r.inResp = *c.IncludeInResponse
	}
	if c.RangeID.Length != nil {
		r.rangeLen = *c.RangeID.Length
	}
	if c.RangeID.CharSet != nil {
		r.rangeSet = *c.RangeID.CharSet
	}
	switch c.Algorithm {
	case "nanoid":
		r.generate = nanoid
	case "ksuid":
		r.generate = ksuid
	case "uuidv7":
		r.generate = uuidV7
	case "range_id":
		r.generate = func() string { return rangeID(r.rangeLen, r.rangeSet) }
	default: // "uuid", the default
		r.generate = uuidV4
	}
	return r, nil
}

// Rewrite keeps the client's id, or generates one and sets it on the upstream request.
func (r *RequestID) Rewrite(c plugin.Ctx) {
	id := ""
	if v, ok := c.Header(r.header); ok && len(v) > 0 {
		id = string(v)
	} else {
		id = r.generate()
		c.SetHeader(r.header, id)
	}
	c.Set(r, id)
	if vs, ok := c.(plugin.VarSetter); ok {
		// $apisix_request_id for loggers and the access log; SetVar copies, so the string's
		// bytes are lent rather than converted (one allocation less per request)
		vs.SetVar("apisix_request_id", unsafe.Slice(unsafe.StringData(id), len(id)))
	}
}

// HeaderFilter echoes the id unless the response already carries a non-empty one.
func (r *RequestID) HeaderFilter(c plugin.Ctx) {
	if !r.inResp {
		return
	}
	id, _ := c.Get(r).(string)
	if id == "" {
		return
	}
	if v, ok := c.RespHeader(r.header); ok && len(v) > 0 {
		return
	}
	c.SetRespHeader(r.header, id)
}

var (
	_ plugin.Rewriter       = (*RequestID)(nil)
	_ plugin.HeaderFilterer = (*RequestID)(nil)
)
