package control

import (
	"net/http"
	"net/http/pprof"
)

// registerPprof serves Go's profiling endpoints under /debug/pprof/ on the control API
// (apisix.enable_pprof, off by default), so a node can be profiled in production with
// `go tool pprof http://127.0.0.1:9090/debug/pprof/profile?seconds=30`.
//
// The handlers are mounted on the control API's own mux. Importing net/http/pprof also
// registers them on http.DefaultServeMux as a side effect; nothing in Sluice serves that mux,
// so the switch here is the only way in. The control API listens on 127.0.0.1 by default:
// the profiles expose command line, heap contents and stacks, and must not face the network.
//
// Block and mutex profiles stay empty unless the rates are set (runtime.SetBlockProfileRate,
// runtime.SetMutexProfileFraction); they cost on the hot path, so the switch does not set them.
func registerPprof(mux *http.ServeMux, enabled bool) {
	if !enabled {
		return
	}
	// pprof.Index also serves every named profile (heap, goroutine, allocs, threadcreate,
	// block, mutex) at /debug/pprof/<name>.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
