package snapshot

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/router"
)

// tenK is 10k routes over 100 services and 100 upstreams, with a plugin_config on every tenth.
func tenK() map[string]string {
	objs := map[string]string{"/apisix/plugin_configs/p": `{"plugins":{"b":{}}}`}
	for i := range 100 {
		objs[fmt.Sprintf("/apisix/upstreams/u%d", i)] = fmt.Sprintf(`{"nodes":{"10.0.%d.1:80":1}}`, i)
		objs[fmt.Sprintf("/apisix/services/s%d", i)] = fmt.Sprintf(`{"hosts":["s%d.example"],"upstream_id":"u%d","plugins":{"a":{}}}`, i, i)
	}
	for i := range 10000 {
		switch {
		case i%10 == 0:
			objs[fmt.Sprintf("/apisix/routes/%d", i)] = fmt.Sprintf(`{"uri":"/r/%d/*","service_id":"s%d","plugin_config_id":"p"}`, i, i%100)
		case i%3 == 0:
			objs[fmt.Sprintf("/apisix/routes/%d", i)] = fmt.Sprintf(`{"uri":"/r/%d","upstream":{"nodes":{"10.1.0.1:80":1}},"methods":["GET"]}`, i)
		default:
			objs[fmt.Sprintf("/apisix/routes/%d", i)] = fmt.Sprintf(`{"uris":["/r/%d","/q/%d"],"upstream_id":"u%d","hosts":["h.example"]}`, i, i, i%100)
		}
	}
	return objs
}

// BenchmarkRebuild10k measures one build of a 10k-route configuration after one write. The
// router is whatever internal/router builds today (a stub until it lands): the figure is the
// compiler's own cost plus router.Build.
func BenchmarkRebuild10k(b *testing.B) {
	changes := []struct {
		name string
		key  string
		val  func(i int) string
	}{
		{"one route", "/apisix/routes/5", func(i int) string {
			return fmt.Sprintf(`{"uri":"/r/5","upstream_id":"u%d"}`, i%100)
		}},
		{"upstream used by 100 routes", "/apisix/upstreams/u7", func(i int) string {
			return fmt.Sprintf(`{"nodes":{"10.0.7.%d:80":1}}`, i%200+1)
		}},
		{"service of 100 routes", "/apisix/services/s10", func(i int) string {
			return fmt.Sprintf(`{"hosts":["s10-%d.example"],"upstream_id":"u10"}`, i)
		}},
		{"unrelated ssl", "/apisix/ssls/1", func(i int) string { return fmt.Sprintf(`{"snis":["%d.example"]}`, i) }},
	}
	for _, ch := range changes {
		b.Run(ch.name, func(b *testing.B) {
			f := newFixture(b, Options{})
			f.load(tenK())
			f.build()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f.put(ch.key, ch.val(i))
				f.build()
			}
		})
	}
	b.Run("full build (first list or reset)", func(b *testing.B) {
		objs := tenK()
		b.ReportAllocs()
		for range b.N {
			f := newFixture(b, Options{})
			f.load(objs)
			f.build()
		}
	})
}

// TestRebuild10kLog logs the same figures in a plain test run.
func TestRebuild10kLog(t *testing.T) {
	if testing.Short() {
		t.Skip("timing log")
	}
	f := newFixture(t, Options{})
	objs := tenK()
	start := time.Now()
	f.load(objs)
	s := f.build()
	full := time.Since(start)
	if len(s.Routes) != 10000 {
		t.Fatalf("%d routes served, want 10000; errors %d", len(s.Routes), len(s.Errors))
	}
	const n = 50
	start = time.Now()
	for i := range n {
		f.put("/apisix/routes/5", fmt.Sprintf(`{"uri":"/r/5","upstream_id":"u%d"}`, i%100))
		f.build()
	}
	perWrite := time.Since(start) / n
	start = time.Now()
	for range n {
		router.Build(f.b.prev.table, router.Options{Mode: router.HostURI})
	}
	routerOnly := time.Since(start) / n
	t.Logf("10k routes: decode+full build %v; rebuild after one route write %v, of which router.Build %v (means of %d)",
		full, perWrite, routerOnly, n)
}
