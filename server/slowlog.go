package server

import "orgpulse/monitor"

// newSlowLog is the limiter of the slow-request WARN lines, its count of
// left-out lines exported when the server has a monitor.
func (s *Server) newSlowLog() *monitor.SlowLog {
	l := monitor.NewSlowLog(s.cfg.SlowRequestLogEvery)
	if err := s.cfg.Monitor.RegisterSlowLog(l); err != nil {
		s.log.Warn("register "+monitor.MetricSlowLogsSuppressed, "err", err)
	}
	return l
}
