// Package examples tests the monitoring examples shipped in
// packaging/examples (installed under /usr/share/doc/audisp-backlog/examples):
// Prometheus rules and settings, an OpenTelemetry Collector configuration,
// Datadog Agent settings and monitors, and a Grafana dashboard.
//
// It has no code of its own, only tests:
//
//   - names_test.go: every metric name the examples use is one the plugin
//     exports (plain go test, so make test);
//   - promtool_test.go: promtool checks and unit-tests the rules, and a
//     broken copy of the rules must fail those tests (AUDISP_PROMTOOL);
//   - prometheus_test.go: the plugin sends to a real Prometheus 3 over
//     OTLP, and the series, labels, values, rules and dashboard queries are
//     asserted through its query API (AUDISP_PROMETHEUS, root).
//
// make examples-check builds Prometheus and fetches promtool
// (e2e/scripts/prometheus.sh, cached outside the repository) and runs them
// all; a plain go test skips the last two and says why.
package examples
