package proxycache

import (
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

const statusHeader = "Apisix-Cache-Status"

// keyBufs holds the buffers keys are built in, so a hit allocates no key.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// reqState follows one request that may store its response, from access to log.
type reqState struct {
	z       *zone
	base    string
	fillKey string // set while this request is the one filling it (others wait)
	noStore bool   // a collapsed miss that gave up waiting: nginx does not cache its answer

	storing bool
	vary    []string
	e       *entry
	mem     []byte
	dw      *diskWriter
	limit   int64
}

// finish wakes the requests waiting for this request's fill.
func (st *reqState) finish() {
	if st.fillKey != "" {
		st.z.endFill(st.fillKey)
		st.fillKey = ""
	}
}

func (st *reqState) abandon() {
	st.storing, st.mem = false, nil
	if st.dw != nil {
		st.dw.abort()
		st.dw = nil
	}
}

// appendKey builds the cache key: cache_key's items concatenated, prefixed with the consumer
// when consumer_isolation applies.
func (p *ProxyCache) appendKey(b []byte, c plugin.Ctx) []byte {
	if p.isolate && !p.identVarIn {
		var ident []byte
		if cons := c.Consumer(); cons != nil && cons.Username != "" {
			ident = append(b, cons.Username...)
		} else if u, ok := c.Lookup(&remoteUser); ok && len(u) > 0 {
			ident = append(b, u...)
		}
		if len(ident) > 0 {
			b = append(ident, 1)
		}
	}
	return p.key.append(b, c)
}

var remoteUser = plugin.ParseVar("remote_user")

// lookup finds the entry for key, following a Vary marker to the request's variant; full is
// the key the request's response would be stored under as far as known now.
func (z *zone) lookup(key []byte, c plugin.Ctx, vbuf []byte) (e *entry, full []byte) {
	sh := z.shardOf(key)
	sh.mu.RLock()
	e = sh.items[string(key)]
	full = key
	if e != nil && e.marker {
		full = appendVariant(append(vbuf[:0], key...), e.vary, c)
		e = sh.items[string(full)]
	}
	sh.mu.RUnlock()
	return e, full
}

// appendVariant appends the request's values of the Vary headers to a base key.
func appendVariant(b []byte, vary []string, c plugin.Ctx) []byte {
	b = append(b, 0, 'v')
	for _, name := range vary {
		b = append(b, 0)
		if v, ok := c.Header(name); ok {
			b = append(b, v...)
		}
	}
	return b
}

// Access answers PURGE, serves hits and registers misses.
func (p *ProxyCache) Access(c plugin.Ctx) {
	z := p.zone
	if z == nil {
		return
	}
	kb := keyBufs.Get().(*[]byte)
	vb := keyBufs.Get().(*[]byte)
	key := p.appendKey((*kb)[:0], c)
	p.access(c, z, key, vb)
	*kb = key[:0]
	keyBufs.Put(kb)
	keyBufs.Put(vb)
}

func (p *ProxyCache) access(c plugin.Ctx, z *zone, key []byte, vb *[]byte) {
	method := c.Method()
	if string(method) == "PURGE" {
		if z.purge(key) {
			c.Exit(200, nil)
		} else {
			c.Exit(404, nil)
		}
		return
	}
	var rcc cacheControl
	methodOK := p.matchMethod(method)
	bypass := p.bypass.truthy(c)
	if p.memory {
		if !methodOK {
			c.SetRespHeader(statusHeader, "MISS")
			return
		}
		if bypass {
			c.SetRespHeader(statusHeader, "BYPASS")
			return
		}
		if p.cacheCtl {
			v, _ := c.Header("Cache-Control")
			rcc = parseCacheControl(v)
			if rcc.noStore || rcc.noCache {
				c.SetRespHeader(statusHeader, "BYPASS")
				return
			}
		}
	} else if !methodOK || bypass {
		c.SetRespHeader(statusHeader, "BYPASS")
		if methodOK {
			// nginx's proxy_cache_bypass skips the lookup but may still store the answer.
			c.Set(p, &reqState{z: z, base: string(key)})
		}
		return
	}

	now := time.Now()
	e, full := z.lookup(key, c, *vb)
	*vb = full[:0]
	status := "MISS"
	switch {
	case e != nil && now.UnixNano() < e.expires:
		if p.memory && p.cacheCtl && rcc.stale(e, now) {
			status = "STALE"
			break
		}
		if p.serve(c, z, key, e, now) {
			return
		}
	case e != nil:
		status = "EXPIRED"
	case p.memory && p.cacheCtl && rcc.onlyIfCached:
		c.SetRespHeader(statusHeader, "MISS")
		c.Exit(504, nil)
		return
	}

	st := &reqState{z: z, base: string(key)}
	fk := st.base
	if len(full) != len(key) {
		fk = string(full)
	}
	if f, leader := z.beginFill(fk); leader {
		st.fillKey = fk
	} else if p.waitFill(f) {
		now = time.Now()
		if e, _ := z.lookup(key, c, *vb); e != nil && now.UnixNano() < e.expires && p.serve(c, z, key, e, now) {
			return
		}
	} else {
		st.noStore = true
	}
	c.SetRespHeader(statusHeader, status)
	c.Set(p, st)
}

// waitFill waits for another request's fill of the same key, as nginx's proxy_cache_lock
// does; false when it took longer than proxy_cache_lock_timeout.
func (p *ProxyCache) waitFill(f *fill) bool {
	t := time.NewTimer(p.lockWait)
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
		return false
	}
}

// serve ends the request with e; false when e's file is gone (e is dropped, the request
// goes on as a miss).
func (p *ProxyCache) serve(c plugin.Ctx, z *zone, key []byte, e *entry, now time.Time) bool {
	var fb *fileBody
	if e.path != "" {
		var err error
		if fb, err = openBody(e); err != nil {
			z.remove(string(key), e)
			return false
		}
	}
	for i := range e.headers {
		h := &e.headers[i]
		if p.hide && isCacheHeader(h.name) {
			continue
		}
		if h.add {
			c.AddRespHeader(h.name, h.value)
		} else {
			c.SetRespHeader(h.name, h.value)
		}
	}
	e.lastUse.Store(now.UnixNano())
	if p.memory {
		var ab [20]byte
		c.SetRespHeader("Age", string(strconv.AppendInt(ab[:0], int64(now.Sub(time.Unix(0, e.stored))/time.Second), 10)))
	}
	c.SetRespHeader(statusHeader, "HIT")
	if fb == nil {
		body := e.body
		if body == nil {
			body = []byte{}
		}
		c.Exit(e.status, body)
		return true
	}
	if se, ok := c.(plugin.StreamExiter); ok {
		se.ExitStream(e.status, fb, e.bodyLen)
		return true
	}
	b, err := io.ReadAll(fb)
	_ = fb.Close()
	if err != nil {
		b = nil
	}
	if b == nil {
		b = []byte{}
	}
	c.Exit(e.status, b)
	return true
}

func isCacheHeader(name string) bool {
	return equalFold(name, "Cache-Control") || equalFold(name, "Expires")
}

// HeaderFilter decides whether the response is stored and starts storing it.
func (p *ProxyCache) HeaderFilter(c plugin.Ctx) {
	st, _ := c.Get(p).(*reqState)
	if st == nil {
		if p.hide && !p.memory {
			hideCacheHeaders(c)
		}
		return
	}
	ok := !st.noStore && p.startStore(c, st)
	if p.hide {
		hideCacheHeaders(c)
	}
	if !ok {
		st.finish()
	}
}

func hideCacheHeaders(c plugin.Ctx) {
	c.DelRespHeader("Cache-Control")
	c.DelRespHeader("Expires")
}

// startStore applies nginx's (disk) or APISIX's (memory) cacheability rules to the response
// and prepares the entry; false when it is not stored.
func (p *ProxyCache) startStore(c plugin.Ctx, st *reqState) bool {
	status := c.Status()
	if c.UpstreamStatus() == 0 || !p.matchStatus(status) || string(c.Method()) == "HEAD" || p.noCache.truthy(c) {
		return false
	}
	ccv, _ := c.RespHeader("Cache-Control")
	cc := parseCacheControl(ccv)
	if cc.private || cc.noStore || cc.noCache {
		return false
	}
	if _, ok := c.RespHeader("Set-Cookie"); ok && !p.setCookie {
		return false
	}
	var vary []string
	if v, ok := c.RespHeader("Vary"); ok {
		var star bool
		if vary, star = parseVary(v); star {
			return false
		}
	}
	now := time.Now()
	var ttl time.Duration
	switch {
	case p.memory && !p.cacheCtl:
		ttl = p.ttl
	default:
		var ok bool
		ttl, ok = resourceTTL(c, cc, now)
		if !ok {
			if p.memory {
				return false // cache_control: no freshness information
			}
			ttl = st.z.diskTTL
		}
		if ttl <= 0 {
			return false
		}
	}
	limit := st.z.capacity
	if p.memory && p.maxBody < limit {
		limit = p.maxBody
	}
	if cl, ok := c.RespHeader("Content-Length"); ok {
		if n, err := strconv.ParseInt(string(cl), 10, 64); err == nil && n > limit {
			return false
		}
	}
	key := st.base
	if len(vary) > 0 {
		key = string(appendVariant([]byte(st.base), vary, c))
	}
	e := &entry{key: key, status: status, ttl: ttl, headers: captureHeaders(c)}
	if p.memory {
		st.mem = make([]byte, 0, 4096)
	} else {
		dw, err := st.z.newDiskWriter()
		if err != nil {
			p.logger.Error("proxy-cache: cannot store response", "error", err)
			return false
		}
		st.dw = dw
	}
	st.storing, st.vary, st.e, st.limit = true, vary, e, limit
	return true
}

// BodyFilter tees the response into the entry and stores it at eof.
func (p *ProxyCache) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	st, _ := c.Get(p).(*reqState)
	if st == nil || !st.storing {
		return chunk
	}
	if st.dw != nil {
		st.dw.write(chunk)
		if st.dw.n > st.limit || st.dw.err != nil {
			st.abandon()
			st.finish()
			return chunk
		}
	} else {
		if int64(len(st.mem)+len(chunk)) > st.limit {
			st.abandon()
			st.finish()
			return chunk
		}
		st.mem = append(st.mem, chunk...)
	}
	if eof {
		p.commit(st)
		st.finish()
	}
	return chunk
}

func (p *ProxyCache) commit(st *reqState) {
	e := st.e
	st.storing = false
	e.stored = time.Now().UnixNano()
	e.expires = e.stored + int64(e.ttl)
	if st.dw != nil {
		dw := st.dw
		st.dw = nil
		if err := st.z.commitDisk(dw, st.base, st.vary, e); err != nil {
			p.logger.Error("proxy-cache: cannot store response", "zone", st.z.spec.Name, "error", err)
		}
		return
	}
	e.body, e.bodyLen = st.mem, int64(len(st.mem))
	st.mem = nil
	e.size = e.bodyLen + metaCost(st.base, e)
	if e.size > st.z.capacity {
		return
	}
	_ = st.z.insert(st.base, st.vary, e, nil)
}

// Log releases what a request that ended before its body's eof (client gone) still holds.
func (p *ProxyCache) Log(c plugin.Ctx) {
	st, _ := c.Get(p).(*reqState)
	if st == nil {
		return
	}
	if st.storing {
		st.abandon()
	}
	st.finish()
}
