package emit

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

// newTestPKI writes a CA, a server and a client certificate into a
// temporary directory.
func newTestPKI(t *testing.T) *emittest.PKI {
	t.Helper()
	p, err := emittest.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOTLPTLSConfig(t *testing.T) {
	pki := newTestPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		c         conf.OTLP
		wantNil   bool
		wantCerts int
		wantErr   string
	}{
		{name: "none", wantNil: true},
		{name: "ca only", c: conf.OTLP{CAFile: pki.CAFile}},
		{name: "mutual", c: conf.OTLP{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}, wantCerts: 1},
		{name: "missing ca", c: conf.OTLP{CAFile: pki.CAFile + ".missing"}, wantErr: "otlp_ca_file"},
		{name: "ca not pem", c: conf.OTLP{CAFile: notPEM}, wantErr: "no PEM certificate"},
		{name: "cert without key", c: conf.OTLP{CertFile: pki.CertFile}, wantErr: "together"},
		{name: "key without cert", c: conf.OTLP{KeyFile: pki.KeyFile}, wantErr: "together"},
		{name: "mismatched key", c: conf.OTLP{CertFile: pki.CertFile, KeyFile: pki.OtherKeyFile}, wantErr: "otlp_cert_file, otlp_key_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := otlpTLS(tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg == nil) != tc.wantNil {
				t.Fatalf("got config %v, want nil: %v", cfg, tc.wantNil)
			}
			if cfg != nil && len(cfg.Certificates) != tc.wantCerts {
				t.Errorf("got %d client certificates, want %d", len(cfg.Certificates), tc.wantCerts)
			}
		})
	}
}

// TestOTLPMutualTLS exports to receivers that require a client
// certificate signed by the CA, over gRPC and HTTP, configured only by
// otlp_ca_file, otlp_cert_file and otlp_key_file.
func TestOTLPMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientCAs:    pki.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	for _, protocol := range []string{conf.ProtocolGRPC, conf.ProtocolHTTP} {
		t.Run(protocol, func(t *testing.T) {
			rcv, err := emittest.ListenOTLPTLS(protocol, "127.0.0.1:0", serverTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cfg := parseConf(t, "emitters = otlp", "otlp_protocol = "+protocol,
				"otlp_endpoint = "+rcv.Addr(), "otlp_ca_file = "+pki.CAFile,
				"otlp_cert_file = "+pki.CertFile, "otlp_key_file = "+pki.KeyFile)
			o, err := NewOTLP(ctx, cfg.OTLP, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close(ctx)
			if err := o.Emit(ctx, firstInterval()); err != nil {
				t.Fatalf("Emit over mutual TLS: %v", err)
			}
			req, err := rcv.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := peakOf(req); got != 4762 {
				t.Errorf("peak %d, want 4762", got)
			}
		})
	}
}

// TestOTLPCheckFixes points the OTLP check at collectors that speak
// something else than it does, and checks that each failure names the
// setting that mends it.
func TestOTLPCheckFixes(t *testing.T) {
	pki := newTestPKI(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.Server}}
	listen := func(protocol string, cfg *tls.Config) string {
		t.Helper()
		r, err := emittest.ListenOTLPTLS(protocol, "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r.Addr()
	}
	grpcPlain, httpPlain := listen(conf.ProtocolGRPC, nil), listen(conf.ProtocolHTTP, nil)
	httpTLS, grpcTLS := listen(conf.ProtocolHTTP, serverTLS), listen(conf.ProtocolGRPC, serverTLS)
	// An HTTP server with nothing at the path asked, as a collector
	// answers for a path it does not serve.
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	tests := []struct {
		name     string
		lines    []string
		key, val string
	}{
		{"TLS to a plain-text gRPC collector", []string{"otlp_endpoint = " + grpcPlain, "otlp_insecure = no"}, "otlp_insecure", "yes"},
		{"TLS to a plain-text HTTP collector", []string{"otlp_protocol = http/protobuf", "otlp_endpoint = " + httpPlain, "otlp_insecure = no"}, "otlp_insecure", "yes"},
		{"plain text to an HTTPS collector", []string{"otlp_protocol = http/protobuf", "otlp_endpoint = " + httpTLS, "otlp_insecure = yes"}, "otlp_insecure", "no"},
		{"plain text to a gRPC collector with TLS", []string{"otlp_endpoint = " + grpcTLS, "otlp_insecure = yes"}, "otlp_insecure", "no"},
		{"HTTP to a gRPC port", []string{"otlp_protocol = http/protobuf", "otlp_endpoint = " + grpcPlain, "otlp_insecure = yes"}, "otlp_protocol", "grpc"},
		{"gRPC to an HTTP port", []string{"otlp_endpoint = " + httpPlain, "otlp_insecure = yes"}, "otlp_protocol", "http/protobuf"},
		{"unknown CA", []string{"otlp_endpoint = " + grpcTLS, "otlp_insecure = no"}, "otlp_ca_file", "/etc/ssl/certs/collector-ca.pem"},
		{"wrong path", []string{"otlp_protocol = http/protobuf", "otlp_endpoint = " + notFound.URL + "/v1/metric"}, "otlp_endpoint", "http://HOST:PORT/PATH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cfg := parseConf(t, append([]string{"emitters = otlp", "otlp_timeout = 1s"}, tc.lines...)...)
			o, err := NewOTLP(ctx, cfg.OTLP, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close(ctx)
			err = o.Check(ctx)
			var fe *FixError
			if !errors.As(err, &fe) {
				t.Fatalf("Check = %v, want a FixError", err)
			}
			if fe.Fix.Key != tc.key || fe.Fix.Value != tc.val || fe.Fix.Why == "" {
				t.Errorf("fix %+v, want %s = %s; error: %v", fe.Fix, tc.key, tc.val, err)
			}
		})
	}
}
