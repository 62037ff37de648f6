package plugintest

import (
	"io"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// Info is what Ctx reports as plugin.RequestInfo; set it before running a phase.
type Info struct {
	Start           time.Time
	UpAddr          string
	UpStatus        int
	UpLatency       time.Duration // negative: no upstream answered
	ReqSize, RespSz int64
}

func (c *Ctx) StartTime() time.Time           { return c.Info.Start }
func (c *Ctx) UpstreamAddr() string           { return c.Info.UpAddr }
func (c *Ctx) UpstreamStatus() int            { return c.Info.UpStatus }
func (c *Ctx) UpstreamLatency() time.Duration { return c.Info.UpLatency }
func (c *Ctx) RequestSize() int64             { return c.Info.ReqSize }
func (c *Ctx) ResponseSize() int64            { return c.Info.RespSz }

// SetUpstream records the upstream a plugin chose (UpstreamSetter).
func (c *Ctx) SetUpstream(u plugin.Upstream) { c.UpstreamV, c.UpstreamIDV = u, "" }

// SetUpstreamID records the upstream id a plugin chose; KnownUpstreams, when set, lists the
// ids that exist (others answer false).
func (c *Ctx) SetUpstreamID(id string) bool {
	if c.KnownUpstreams != nil && !c.KnownUpstreams[id] {
		return false
	}
	c.UpstreamV, c.UpstreamIDV = nil, id
	return true
}

// ExitStream ends the request like Exit with a body read from r, which it reads whole into
// ExitBody (and closes, when r is an io.Closer).
func (c *Ctx) ExitStream(status int, r io.Reader, size int64) {
	b, _ := io.ReadAll(r)
	if cl, ok := r.(io.Closer); ok {
		_ = cl.Close()
	}
	c.Exit(status, b)
	c.ExitSize = size
}

// VisitRespHeaders lists RespHdr (RespHeaderVisitor).
func (c *Ctx) VisitRespHeaders(fn func(name, value []byte)) {
	for k, vs := range c.RespHdr {
		for _, v := range vs {
			fn([]byte(k), []byte(v))
		}
	}
}

// SetVar records a variable in VarsV (VarSetter); Lookup then answers it.
func (c *Ctx) SetVar(name string, value []byte) {
	if c.VarsV == nil {
		c.VarsV = map[string]string{}
	}
	c.VarsV[name] = string(value)
}

var (
	_ plugin.VarSetter         = (*Ctx)(nil)
	_ plugin.RespHeaderVisitor = (*Ctx)(nil)
	_ plugin.UpstreamSetter    = (*Ctx)(nil)
	_ plugin.StreamExiter      = (*Ctx)(nil)
)
