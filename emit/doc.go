/*
Package emit formats and delivers each interval's figures: to stdout
([Stdout]), to an OpenTelemetry collector over OTLP/gRPC or OTLP/HTTP
([OTLP]) and to a statsd or DogStatsD server ([StatsD]). The plugin opens
the emitters its configuration names with [Open], which puts each behind
its own bounded queue and goroutine ([Set]), so that no collector ever
blocks the interval loop.

# Metrics

Every emitter sends the same figures of an [Interval], by ranging over one
table, [Metrics]: name, kind, unit, attribute, description and how the
value is taken from the interval. README.md's metric table and the
METRICS section of audisp-backlog(8) are generated from it.

In OTLP, gauges are gauges whose points have StartTime = Interval.Start;
counters are monotonic sums with cumulative temporality, always (the
exporter is given a cumulative temporality selector, so
OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE does not apply), whose
points have StartTime = Interval.CounterStart. Every point has Time =
Interval.End. plugin.records has one point per entry of Counters.Types
when the loop gives them (they add up to Records), else one point without
attributes.

In statsd the names lose their "linux.audit." prefix and get
statsd_namespace instead (by default "linux.audit.", so they read the
same). Gauges are sent as gauges, counters as counts of their increase
since the previous interval (see [StatsD]). With statsd_tag_format =
dogstatsd an attribute is a tag:

	linux.audit.backlog.max_depth:4762|g|#method:kernel
	linux.audit.backlog.resets:1|c|#source:own

With statsd_tag_format = none (plain statsd servers, which do not
understand "|#") there are no tags at all: the attribute's value is folded
into the name, and statsd_tags are refused:

	linux.audit.backlog.max_depth.kernel:4762|g
	linux.audit.backlog.resets.own:1|c
	linux.audit.plugin.records.SYSCALL:120|c

# Environment

auditd starts plugins with an empty environment, so the configuration file
is the source of truth. When the plugin is run by hand (make run), these
variables fill in what the file leaves unset; a key given in the file always
wins over them.

OTLP, for keys the file does not set:

  - OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL:
    otlp_protocol ("grpc" or "http/protobuf").
  - OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT:
    otlp_endpoint.
  - OTEL_EXPORTER_OTLP_METRICS_INSECURE, OTEL_EXPORTER_OTLP_INSECURE:
    otlp_insecure.
  - OTEL_EXPORTER_OTLP_METRICS_HEADERS, OTEL_EXPORTER_OTLP_HEADERS:
    otlp_headers.
  - OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION:
    otlp_compression. With gRPC, otlp_compression = none cannot override
    a gzip from these variables (the gRPC exporter has no quiet way to say
    "none"); with HTTP it does.
  - OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT:
    otlp_timeout. The Set still ends each delivery at otlp_timeout (its
    default when unset), so these can shorten an export but not lengthen it.
  - OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE, OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY, OTEL_EXPORTER_OTLP_CLIENT_KEY:
    only if none of otlp_ca_file, otlp_cert_file and otlp_key_file is
    given (any of them replaces the whole TLS configuration).
  - OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME: resource attributes; they
    override the defaults (service.name=audisp-backlog, service.version,
    host.name) and are overridden by resource_attributes.

OTLP/HTTP also honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as Go's HTTP
client does.

Not used: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (always
cumulative), OTEL_METRIC_EXPORT_INTERVAL and OTEL_METRIC_EXPORT_TIMEOUT
(there is no periodic reader: the interval loop is the only clock), and
OTEL_SDK_DISABLED.

DogStatsD (statsd_tag_format = dogstatsd only; the plain statsd writer reads
no environment): the datadog-go client adds DD_ENTITY_ID, DD_ENV,
DD_SERVICE and DD_VERSION as tags, DD_EXTERNAL_ENV as an "e:" field and
DD_CARDINALITY or DATADOG_CARDINALITY as a "card:" field. It ignores
DD_AGENT_HOST, DD_DOGSTATSD_PORT and DD_DOGSTATSD_URL because
statsd_address is always given. Origin detection is off (DD_ORIGIN_DETECTION_ENABLED
cannot turn it on).

# Errors

OpenTelemetry's own errors and log messages go to the plugin's logger:
the plugin calls [RouteOTelLogs] once at start, which sets otel's error
handler and logger, both process-wide. A failing delivery is counted in
[Stats] and logged when an emitter starts failing and when it recovers,
not once per interval.
*/
package emit
