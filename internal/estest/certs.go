package estest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs are the PEM files GenerateCerts wrote: a CA, a server certificate
// for 127.0.0.1, ::1 and localhost, and a client certificate (CN
// "logspool") for mTLS, all signed by the CA.
type Certs struct {
	Dir           string
	CAFile        string // ca.pem
	ServerCert    string // server.pem
	ServerKey     string // server-key.pem
	ClientCert    string // client.pem
	ClientKey     string // client-key.pem
	CAFingerprint string // SHA-256 of the CA certificate, hex, as Elasticsearch prints it
}

// GenerateCerts creates a fresh CA, server and client certificate (ECDSA
// P-256, valid for 24 hours) and writes them as PEM files into dir.
func GenerateCerts(dir string) (*Certs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("estest: creating certificate dir %s: %w", dir, err)
	}
	c := &Certs{
		Dir:        dir,
		CAFile:     filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	now := time.Now().Add(-time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("estest: generating CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "estest CA"},
		NotBefore:             now,
		NotAfter:              now.Add(25 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("estest: signing CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("estest: parsing CA certificate: %w", err)
	}
	if err := writePEM(c.CAFile, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	c.CAFingerprint = fingerprint(caDER)

	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certFile, keyFile string, server bool) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("estest: generating key for %s: %w", cn, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now,
			NotAfter:     now.Add(25 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("estest: signing certificate for %s: %w", cn, err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return fmt.Errorf("estest: encoding key for %s: %w", cn, err)
		}
		if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(keyFile, "EC PRIVATE KEY", kder)
	}
	if err := leaf(2, "localhost", x509.ExtKeyUsageServerAuth, c.ServerCert, c.ServerKey, true); err != nil {
		return nil, err
	}
	if err := leaf(3, "logspool", x509.ExtKeyUsageClientAuth, c.ClientCert, c.ClientKey, false); err != nil {
		return nil, err
	}
	return c, nil
}

func writePEM(path, typ string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("estest: writing %s: %w", path, err)
	}
	return nil
}

// CAPool returns a pool holding the generated CA.
func (c *Certs) CAPool() (*x509.CertPool, error) {
	data, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("estest: reading %s: %w", c.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("estest: no certificate in %s", c.CAFile)
	}
	return pool, nil
}

// ServerTLSConfig returns the server side configuration; with
// requireClientCert the server demands a client certificate signed by the
// CA.
func (c *Certs) ServerTLSConfig(requireClientCert bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("estest: loading server key pair: %w", err)
	}
	pool, err := c.CAPool()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
