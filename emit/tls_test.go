package emit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
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

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string // CA, client certificate and key
	otherKeyFile              string // a key that does not match certFile
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage, key *ecdsa.PrivateKey) []byte {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	serverKey, clientKey := newKey(), newKey()
	p := testPKI{
		caFile:       writePEM("ca.pem", "CERTIFICATE", caDER),
		certFile:     writePEM("client.pem", "CERTIFICATE", issue(2, x509.ExtKeyUsageClientAuth, clientKey)),
		keyFile:      writeKey("client-key.pem", clientKey),
		otherKeyFile: writeKey("other-key.pem", newKey()),
		pool:         x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	p.server = tls.Certificate{Certificate: [][]byte{issue(3, x509.ExtKeyUsageServerAuth, serverKey)}, PrivateKey: serverKey}
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
		{name: "ca only", c: conf.OTLP{CAFile: pki.caFile}},
		{name: "mutual", c: conf.OTLP{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}, wantCerts: 1},
		{name: "missing ca", c: conf.OTLP{CAFile: pki.caFile + ".missing"}, wantErr: "otlp_ca_file"},
		{name: "ca not pem", c: conf.OTLP{CAFile: notPEM}, wantErr: "no PEM certificate"},
		{name: "cert without key", c: conf.OTLP{CertFile: pki.certFile}, wantErr: "together"},
		{name: "key without cert", c: conf.OTLP{KeyFile: pki.keyFile}, wantErr: "together"},
		{name: "mismatched key", c: conf.OTLP{CertFile: pki.certFile, KeyFile: pki.otherKeyFile}, wantErr: "otlp_cert_file, otlp_key_file"},
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
		Certificates: []tls.Certificate{pki.server},
		ClientCAs:    pki.pool,
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
				"otlp_endpoint = "+rcv.Addr(), "otlp_ca_file = "+pki.caFile,
				"otlp_cert_file = "+pki.certFile, "otlp_key_file = "+pki.keyFile)
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
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}}
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
