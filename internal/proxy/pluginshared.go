package proxy

import (
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
)

// The engine-neutral halves of plugin.Ctx, shared by reqCtx (pluginctx.go) and h2Ctx
// (h2plugin.go): each engine keeps only what touches its own request and response types.

// requestURI is Ctx.RequestURI: path, then '?' and query unless query is nil.
func (ps *pluginState) requestURI(path, query []byte) []byte {
	b := append(ps.reqURIBuf[:0], path...)
	if query != nil {
		b = append(b, '?')
		b = append(b, query...)
	}
	ps.reqURIBuf = b
	return b
}

// queryArg is Ctx.Arg over the engine's parsed query args.
func queryArg(args *fasthttp.Args, name string) ([]byte, bool) {
	if !args.Has(name) {
		return nil, false
	}
	return args.Peek(name), true
}

// encodeQuery re-encodes args as the query forwarded upstream. None left: nil, so no '?'
// goes out (as nginx's $is_args); a reused buffer is empty but not nil.
func (ps *pluginState) encodeQuery(args *fasthttp.Args) []byte {
	if args.Len() == 0 {
		return nil
	}
	ps.queryBuf = args.AppendBytes(ps.queryBuf[:0])
	return ps.queryBuf
}

// readBody buffers src (up to pluginBodyLimit) into ps.body for Ctx.Body; a failure is kept
// for later Body calls (and bodyBroken).
func (ps *pluginState) readBody(src io.Reader) ([]byte, error) {
	buf, err := readBounded(ps.body[:0], src, pluginBodyLimit)
	ps.body = buf
	if err != nil {
		ps.bodyErr = err
		return nil, err
	}
	return buf, nil
}

// readBounded appends what src yields to dst until EOF; past limit bytes it stops with
// errBodyTooLarge. dst holds what was read either way.
func readBounded(dst []byte, src io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := src.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errBodyTooLarge
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// replaceBody is Ctx.SetBody's bookkeeping: b, copied, is the body from now on, read or not.
func (ps *pluginState) replaceBody(b []byte) []byte {
	ps.bodyRead = true
	ps.body = append(ps.body[:0], b...)
	ps.bodyErr = nil
	return ps.body
}

// recordRespOp notes a plugin's response header change before the engine applies it: a
// dropped Content-Length, and, until the upstream's head arrives (and outside the gateway's
// own answers), the op to replay onto that head.
func (ps *pluginState) recordRespOp(o respHeaderOp) {
	if o.op == opDel && isContentLength(o.name) {
		ps.lengthDropped = true
	}
	if !ps.upstream && !ps.exited && !ps.own {
		ps.respOps = append(ps.respOps, o)
	}
}

// routeID and routeServiceID are Ctx.RouteID and Ctx.ServiceID ("" before a route matched).
func routeID(r *snapshot.Route) string {
	if r == nil {
		return ""
	}
	return r.ID
}

func routeServiceID(r *snapshot.Route) string {
	if r == nil {
		return ""
	}
	return r.ServiceID
}

// consumerVar answers $consumer_name and $consumer_group_id.
func (ps *pluginState) consumerVar(k plugin.VarKind) ([]byte, bool) {
	c := ps.rt.Consumer()
	switch {
	case c == nil:
		return nil, false
	case k == plugin.VarConsumerName:
		return s2b(c.Username), true
	case k == plugin.VarConsumerGroupID && c.GroupID != "":
		return s2b(c.GroupID), true
	}
	return nil, false
}
