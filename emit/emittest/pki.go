package emittest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a CA with a server certificate for 127.0.0.1 and localhost and a
// client certificate, written as PEM files, for receivers that serve TLS
// and require client certificates.
type PKI struct {
	CAFile, CertFile, KeyFile string // CA, client certificate and its key
	OtherKeyFile              string // a key that does not match CertFile
	Pool                      *x509.CertPool
	Server                    tls.Certificate
}

// WritePKI makes a PKI valid for an hour and writes its files, mode 0600,
// into dir.
func WritePKI(dir string) (*PKI, error) {
	var err error
	newKey := func() *ecdsa.PrivateKey {
		k, e := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		err = errors.Join(err, e)
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		err = errors.Join(err, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, e := x509.MarshalPKCS8PrivateKey(k)
		err = errors.Join(err, e)
		return writePEM(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, e := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if e != nil {
		return nil, fmt.Errorf("test PKI: %w", e)
	}
	ca, e := x509.ParseCertificate(caDER)
	if e != nil {
		return nil, fmt.Errorf("test PKI: %w", e)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage, key *ecdsa.PrivateKey) []byte {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, e := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		err = errors.Join(err, e)
		return der
	}
	serverKey, clientKey := newKey(), newKey()
	p := &PKI{
		CAFile:       writePEM("ca.pem", "CERTIFICATE", caDER),
		CertFile:     writePEM("client.pem", "CERTIFICATE", issue(2, x509.ExtKeyUsageClientAuth, clientKey)),
		KeyFile:      writeKey("client-key.pem", clientKey),
		OtherKeyFile: writeKey("other-key.pem", newKey()),
		Pool:         x509.NewCertPool(),
	}
	p.Pool.AddCert(ca)
	p.Server = tls.Certificate{Certificate: [][]byte{issue(3, x509.ExtKeyUsageServerAuth, serverKey)}, PrivateKey: serverKey}
	if err != nil {
		return nil, fmt.Errorf("test PKI: %w", err)
	}
	return p, nil
}

// ServerTLS is a server configuration that requires a client certificate
// signed by the CA.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.Server},
		ClientCAs:    p.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}
