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
	generate func(dst []byte) []byte
	rangeLen int
	rangeSet string
}

// idState is one request's id. The id is built in buf (or, when longer, in a slice of its
// own) and never written again, so id may alias it: one allocation per request instead of
// the id's string plus its boxing into Ctx.Set.
type idState struct {
	id  string
	buf [idBufLen]byte
}

// idBufLen holds the generated ids (36 for a uuid) and most client-sent ones.
const idBufLen = 40

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
		r.generate = func(dst []byte) []byte { return appendRangeID(dst, r.rangeLen, r.rangeSet) }
	default: // "uuid", the default
		r.generate = uuidV4
	}
	return r, nil
}

// Rewrite keeps the client's id, or generates one and sets it on the upstream request.
func (r *RequestID) Rewrite(c plugin.Ctx) {
	st := new(idState)
	var b []byte
	generated := false
	if v, ok := c.Header(r.header); ok && len(v) > 0 {
		// copied: v is only valid during this phase
		b = append(st.buf[:0], v...)
	} else {
		b = r.generate(st.buf[:0])
		generated = true
	}
	st.id = unsafe.String(unsafe.SliceData(b), len(b))
	if generated {
		c.SetHeader(r.header, st.id)
	}
	if r.inResp {
		// as APISIX, the id is kept for header_filter only with include_in_response
		c.Set(r, st)
	}
	if vs, ok := c.(plugin.VarSetter); ok {
		// $apisix_request_id for loggers and the access log; SetVar copies
		vs.SetVar("apisix_request_id", b)
	}
}

// HeaderFilter echoes the id unless the response already carries a non-empty one.
func (r *RequestID) HeaderFilter(c plugin.Ctx) {
	if !r.inResp {
		return
	}
	st, _ := c.Get(r).(*idState)
	if st == nil || st.id == "" {
		return
	}
	if v, ok := c.RespHeader(r.header); ok && len(v) > 0 {
		return
	}
	c.SetRespHeader(r.header, st.id)
}

var (
	_ plugin.Rewriter       = (*RequestID)(nil)
	_ plugin.HeaderFilterer = (*RequestID)(nil)
)
