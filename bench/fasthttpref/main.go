// Command fasthttpref is the engine reference of bench/run.sh: the smallest proxy on the
// engine Sluice's HTTP/1.1 path uses (fasthttp.Server + fasthttp.HostClient), with no
// routing, header work, plugins or logging. Its row shows what the engine itself allows on
// the machine, next to nginx and Sluice (issue 7: "fasthttp alone 0.96×").
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9081", "address to serve on")
	upstream := flag.String("upstream", "", "origin host:port")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("fasthttpref: -upstream is required")
	}
	up := &fasthttp.HostClient{Addr: *upstream, MaxConns: 512}
	handler := func(ctx *fasthttp.RequestCtx) {
		if err := up.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
		}
	}
	if err := fasthttp.ListenAndServe(*listen, handler); err != nil {
		log.Fatalf("fasthttpref: %v", err)
	}
}
