package emit

import (
	"context"
	"crypto/tls"
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
