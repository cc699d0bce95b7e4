// Package emittest runs real protocol peers on loopback for tests of the
// emitters: an OTLP metrics receiver over gRPC ([ListenOTLPGRPC]) and over
// HTTP ([ListenOTLPHTTP]) built on the official collector service
// definitions, a statsd datagram listener for UDP and unix datagram sockets
// ([ListenStatsD]), and a TCP listener that accepts connections and never
// answers ([ListenBlackhole]). [WritePKI] makes the certificates for a
// receiver that requires client certificates.
//
// It does not depend on package testing, so the plugin's tests and the
// end-to-end harness's in-guest collector can use it as well. Each peer
// keeps what it receives in a bounded inbox read with Next; a peer runs
// until its Close.
package emittest
