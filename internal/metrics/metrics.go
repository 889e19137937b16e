// Package metrics holds auditlogd's Prometheus metrics. One Metrics value is
// made in main and passed to whoever records; nothing is registered globally.
package metrics

import (
	"database/sql"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxOperations bounds the distinct operation names kept as label values:
// operation names come from clients, and an unbounded label is a memory leak.
// The GraphQL handler passes names only of requests that authenticated and
// validated (others come as fixed labels such as "rejected" or
// "unauthenticated"); past this many names, the rest are counted as "other".
const maxOperations = 200

// fixedLabels are the labels the GraphQL handler uses for operations whose
// names it does not pass on; they never take one of the maxOperations slots.
var fixedLabels = []string{"other", "anonymous", "unauthenticated", "rejected"}

var operationName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Metrics is the registry and every metric auditlogd records.
type Metrics struct {
	registry     *prometheus.Registry
	httpRequests *prometheus.CounterVec
	httpLatency  *prometheus.HistogramVec
	operations   *prometheus.CounterVec
	opLatency    *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	pruned       prometheus.Counter
	exportRows   *prometheus.CounterVec
	downloads    prometheus.Gauge
	refused      prometheus.Counter
	txConflicts  *prometheus.CounterVec

	mu    sync.Mutex
	known map[string]bool
}

// New returns a Metrics with its own registry, including Go runtime and
// process metrics.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlogd_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "auditlogd_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlogd_graphql_operations_total", Help: "GraphQL operations by operation name.",
		}, []string{"operation"}),
		opLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "auditlogd_graphql_operation_duration_seconds", Help: "GraphQL operation latency by operation name.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlogd_errors_total", Help: "Errors answered to clients, by contract error code.",
		}, []string{"code"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditlogd_events_pruned_total", Help: "Audit events deleted by the retention job.",
		}),
		exportRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlogd_export_rows_total", Help: "Rows streamed by export downloads, by format.",
		}, []string{"format"}),
		downloads: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditlogd_export_downloads_running", Help: "Export downloads streaming now.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditlogd_export_downloads_refused_total", Help: "Export downloads refused because too many ran at once (per export, per client or in all).",
		}),
		txConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlogd_db_transaction_conflicts_total",
			Help: "Transactions that lost to a concurrent one (cause: deadlock = MySQL error 1213, which on Galera is also a certification failure; record_changed = 1020; sqlite_busy), by outcome: retried, or gave_up after the last attempt.",
		}, []string{"cause", "outcome"}),
		known: map[string]bool{},
	}
	for _, l := range fixedLabels {
		m.known[l] = true
	}
	reg.MustRegister(m.httpRequests, m.httpLatency, m.operations, m.opLatency, m.errors, m.pruned, m.exportRows, m.downloads, m.refused, m.txConflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterDBPools exports the connection pool statistics of each pool.
func (m *Metrics) RegisterDBPools(pools map[string]*sql.DB) {
	for name, db := range pools {
		m.registry.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveHTTP records one HTTP request. route is the router's pattern, never
// the raw path.
func (m *Metrics) ObserveHTTP(route, method string, status int, took time.Duration) {
	m.httpRequests.WithLabelValues(route, method, http.StatusText(status)).Inc()
	m.httpLatency.WithLabelValues(route).Observe(took.Seconds())
}

// ObserveOperation records one GraphQL operation and the codes of its errors.
func (m *Metrics) ObserveOperation(name string, took time.Duration, errorCodes []string) {
	name = m.label(name)
	m.operations.WithLabelValues(name).Inc()
	m.opLatency.WithLabelValues(name).Observe(took.Seconds())
	for _, c := range errorCodes {
		m.CountError(c)
	}
}

// CountError records one error answered with code (HTTP-level errors such
// as 401 and 429 too).
func (m *Metrics) CountError(code string) { m.errors.WithLabelValues(code).Inc() }

// AddPruned records events deleted by retention.
func (m *Metrics) AddPruned(n int64) { m.pruned.Add(float64(n)) }

// AddExportRows records rows streamed by an export.
func (m *Metrics) AddExportRows(format string, n int64) {
	m.exportRows.WithLabelValues(format).Add(float64(n))
}

// DownloadStarted and DownloadFinished count the export downloads running.
func (m *Metrics) DownloadStarted() { m.downloads.Inc() }

// DownloadFinished: see DownloadStarted.
func (m *Metrics) DownloadFinished() { m.downloads.Dec() }

// DownloadRefused counts a download refused for the limits on downloads at
// once.
func (m *Metrics) DownloadRefused() { m.refused.Inc() }

// TransactionConflict counts a transaction attempt that lost to a
// concurrent one: retried, or (gaveUp) returned as an error after the last
// attempt. It is store.Options.OnConflict.
func (m *Metrics) TransactionConflict(cause string, gaveUp bool) {
	outcome := "retried"
	if gaveUp {
		outcome = "gave_up"
	}
	m.txConflicts.WithLabelValues(cause, outcome).Inc()
}

func (m *Metrics) label(name string) string {
	if !operationName.MatchString(name) {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known[name] {
		return name
	}
	if len(m.known) >= maxOperations+len(fixedLabels) {
		return "other"
	}
	m.known[name] = true
	return name
}
