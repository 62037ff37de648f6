package proxy

// Phase is a point of the request lifecycle where plugins run (DESIGN.md "The request path",
// step 4): rewrite → access → before_proxy → (forward) → header_filter → body_filter → log.
type Phase uint8

const (
	PhaseRewrite Phase = iota
	PhaseAccess
	PhaseBeforeProxy
	PhaseHeaderFilter
	PhaseBodyFilter
	PhaseLog
)

var phaseNames = [...]string{"rewrite", "access", "before_proxy", "header_filter", "body_filter", "log"}

func (p Phase) String() string { return phaseNames[p] }

// The plugin seam. The plugin runtime (next issue) replaces these three methods' bodies; the
// request path already calls them at the right places and honours their results:
//
//   - runRequestPhases runs rewrite, access and before_proxy: first the global rules'
//     chain for each phase, then the route's compiled chain (route ∪ plugin_config ∪
//     service, consumer-merged once an auth plugin identified one), as APISIX does. A
//     plugin that ends the request sets the response and returns true: nothing is
//     forwarded, but header_filter, body_filter and log still run.
//   - runHeaderFilter runs on the response head before it is written (upstream's or a
//     plugin's); body filters see the body one chunk at a time with an eof flag
//     (filterBody), so a streamed body stays streamed.
//   - runLog runs after the last byte was handed to the client; it may only enqueue work.
//
// Nothing runs there yet, so a route with plugins fails closed in the snapshot
// (Route.Unsupported) and never reaches these calls.

// runRequestPhases returns true when a plugin answered the request itself.
func (s *Server) runRequestPhases(rc *reqCtx) (answered bool) { return false }

// runHeaderFilter runs the header_filter phase on the response about to be written.
func (s *Server) runHeaderFilter(rc *reqCtx) {}

// filterBody runs body_filter on one chunk; it returns the bytes to send (the chunk itself
// when no filter is configured).
func (s *Server) filterBody(rc *reqCtx, chunk []byte, eof bool) []byte { return chunk }

// runLog runs the log phase.
func (s *Server) runLog(rc *reqCtx) {}
