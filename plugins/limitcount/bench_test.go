package limitcount

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// benchCtx is a Ctx whose client address comes from a precomputed key table and whose
// response headers are dropped, so a benchmark measures the plugin, not the test Ctx's maps.
type benchCtx struct {
	*plugintest.Ctx
	key    []byte
	status int
}

func (c *benchCtx) Lookup(v *plugin.Var) ([]byte, bool) {
	if v.Kind == plugin.VarRemoteAddr {
		return c.key, true
	}
	return c.Ctx.Lookup(v)
}
func (c *benchCtx) SetRespHeader(name, value string) {}
func (c *benchCtx) Exit(status int, body []byte)     { c.status = status }

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255))
	}
	return keys
}

func runBench(b *testing.B, lc *LimitCount, keys [][]byte) {
	c := &benchCtx{Ctx: plugintest.New()}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.key = keys[i%len(keys)]
		lc.Access(c)
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "heap-MiB")
	if c.status == 500 {
		b.Fatal("limiter failed")
	}
}

// BenchmarkLimitCountLocal cycles through 1M distinct client addresses (all allowed: the
// count is high), so after the first million iterations every request updates an existing
// counter among a million live ones.
func BenchmarkLimitCountLocal(b *testing.B) {
	keys := benchKeys(1 << 20)
	lc := compile(b, `{"count":1000000000,"time_window":3600}`, route("bench"))
	runBench(b, lc, keys)
	b.ReportMetric(float64(lc.rules[0].local.len()), "keys")
}

// BenchmarkLimitCountLocalParallel is the same from every P at once: shards, not one lock.
func BenchmarkLimitCountLocalParallel(b *testing.B) {
	keys := benchKeys(1 << 20)
	lc := compile(b, `{"count":1000000000,"time_window":3600}`, route("bench"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := &benchCtx{Ctx: plugintest.New()}
		i := 0
		for pb.Next() {
			c.key = keys[i%len(keys)]
			lc.Access(c)
			i += 7919
		}
	})
}

// BenchmarkLimitCountRedis is one EVALSHA round trip per request to a local redis-server.
func BenchmarkLimitCountRedis(b *testing.B) {
	s := redistest.Start(b)
	lc := compile(b, fmt.Sprintf(`{"count":1000000000,"time_window":3600,"policy":"redis","redis_host":"127.0.0.1","redis_port":%d}`, s.Port), route("bench"))
	runBench(b, lc, benchKeys(10000))
}

// BenchmarkLimitCountLocalHot is the per-request cost with the counters in cache (1000 keys).
func BenchmarkLimitCountLocalHot(b *testing.B) {
	lc := compile(b, `{"count":1000000000,"time_window":3600}`, route("bench"))
	runBench(b, lc, benchKeys(1000))
}
