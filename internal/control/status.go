package control

import "net/http"

// Status is the status API (apisix.status): GET /status answers while the process runs;
// GET /status/ready once the first complete configuration snapshot is live, 503 before.
func Status(ready <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /status/ready", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error",
				"error": "worker id: 0 has not received configuration"})
		}
	})
	return mux
}
