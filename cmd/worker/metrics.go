package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metric names of clbdrain's own metrics (the SDK's have the temporal_
// prefix). Prometheus adds _total to counters.
const (
	metricAPICalls   = "clbdrain_api_calls"
	metricAPILatency = "clbdrain_api_call_latency"
)

// metrics serves the SDK's metrics and clbdrain's own on /metrics, through
// one OpenTelemetry meter exported to a Prometheus registry.
type metrics struct {
	handler client.MetricsHandler
	server  *http.Server
	ln      net.Listener
	log     *slog.Logger
}

// newMetrics builds the handler; with an empty addr the handler is the
// SDK's no-op one and nothing is served.
func newMetrics(addr string, log *slog.Logger) (*metrics, error) {
	if addr == "" {
		return &metrics{handler: client.MetricsNopHandler, log: log}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("building the Prometheus exporter: %w", err)
	}
	// Timers are recorded in seconds; OpenTelemetry's default buckets are
	// meant for milliseconds, so give them buckets that fit API calls and
	// CLB tasks (10 ms to 2 min).
	seconds := sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{
			Boundaries: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120},
		}},
	)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithView(seconds))
	handler := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:   provider.Meter("clbdrain"),
		OnError: func(err error) { log.Warn("metrics", "error", err) },
		// Counters only go up: export them as Prometheus counters, not gauges.
		UseMonotonicCounters: true,
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// /healthz answers once the process serves; container health checks use it.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m := &metrics{
		handler: handler,
		server:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:      ln,
		log:     log,
	}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return m, nil
}

// onAPICall records one CLB API call; code is empty on success.
func (m *metrics) onAPICall(action, code string, elapsed time.Duration) {
	if code == "" {
		code = "OK"
	}
	h := m.handler.WithTags(map[string]string{"action": action, "code": code})
	h.Counter(metricAPICalls).Inc(1)
	h.Timer(metricAPILatency).Record(elapsed)
}

// close stops serving.
func (m *metrics) close(ctx context.Context) error {
	if m.server == nil {
		return nil
	}
	return m.server.Shutdown(ctx)
}
