package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// REST holds the metrics of the REST API's requests.
type REST struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewREST registers the REST API's metrics with reg:
// freshet_rest_requests_total{route, code} and
// freshet_rest_request_duration_seconds{route}. The route is the pattern the
// request matched ("GET /v1/jobs/{id}"), or "unmatched", so the label's values
// stay few whatever clients send.
func NewREST(reg prometheus.Registerer) (*REST, error) {
	r := &REST{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshet_rest_requests_total",
			Help: "Requests to the REST API by route and HTTP status.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "freshet_rest_request_duration_seconds",
			Help:    "Time to answer a REST API request, by route.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{r.requests, r.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Wrap returns h counting its requests.
func (m *REST) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		// The mux records the pattern it matched in the request.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
