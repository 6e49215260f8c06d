package server

import (
	"net/http"
	"net/http/pprof"
)

// debugRoutes serves, only when the server runs with Debug (never in
// production), what scripts/bench.sh reads from the running binary:
//
//	/debug/pprof/  Go profiles (heap?gc=1&debug=1 ends with the MemStats
//	               after a collection: the fan-out benchmark's memory per
//	               idle connection)
//	/debug/live    subscription and WebSocket counters as JSON, among them
//	               the SQL statements run for subscription events
func (s *Server) debugRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/live", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, mediaJSON, http.StatusOK, map[string]any{
			"live":      s.resolver.LiveStats(),
			"websocket": s.WebSocketStats(),
		})
	})
}
