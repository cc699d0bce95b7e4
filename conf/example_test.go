package conf_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/audisp-backlog/audisp-backlog/conf"
)

func ExampleParse() {
	src := `# statsd only, every 30 s
interval = 30
emitters = statsd
statsd_tags = env:prod
`
	c, err := conf.Parse(strings.NewReader(src), "audisp-backlog.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Interval, c.Emitters, c.StatsD.Tags, c.IsSet("interval"), c.IsSet("method"))
	// Output: 30s [statsd] [env:prod] true false
}

func ExampleParse_errors() {
	src := `interval = 500ms
method = both
emitters = stdout
emitters = otlp
`
	_, err := conf.Parse(strings.NewReader(src), "audisp-backlog.conf")
	fmt.Println(err)
	// Output:
	// audisp-backlog.conf:1: interval: "500ms" is shorter than 1s (allowed: a duration from 1s to 1h, e.g. 60 (seconds), 60s, 1m, 100ms)
	// audisp-backlog.conf:2: method: "both" is not a valid value (allowed: auto, kernel, ebpf, sampled)
	// audisp-backlog.conf:4: emitters: duplicate key, first set on line 3
}

func ExampleConfig_WriteTo() {
	c, err := conf.Parse(strings.NewReader("emitters = otlp\notlp_headers = authorization=Bearer s3cret\n"), "x.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.WriteTo(os.Stdout); err != nil {
		fmt.Println(err)
	}
	fmt.Println("secrets:", c.HasSecrets())
	// Output:
	// interval = 60s
	// sample_interval = auto
	// record_wait = 1s
	// method = auto
	// emitters = otlp
	// emit_queue = 16
	// log_level = info
	// otlp_endpoint = localhost:4317
	// otlp_protocol = grpc
	// otlp_insecure = auto
	// otlp_ca_file =
	// otlp_cert_file =
	// otlp_key_file =
	// otlp_headers = authorization=<redacted>
	// otlp_compression = none
	// otlp_timeout = 10s
	// resource_attributes =
	// statsd_address = 127.0.0.1:8125
	// statsd_namespace = linux.audit.
	// statsd_tags =
	// statsd_tag_format = dogstatsd
	// secrets: true
}
