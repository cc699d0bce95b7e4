package emittest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // lets the server accept gzip-compressed requests
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Protocols, as in the otlp_protocol key.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// maxHTTPBody bounds a request body the HTTP receiver reads.
const maxHTTPBody = 8 << 20

// Request is one export request an OTLP receiver accepted.
type Request struct {
	// Protocol is ProtocolGRPC or ProtocolHTTP.
	Protocol string
	// Path is the HTTP request path ("" for gRPC).
	Path string
	// Header holds the gRPC metadata or the HTTP headers, keys in lower case.
	Header map[string][]string
	// Compression is the request's compression ("gzip"), "" if none.
	Compression string
	// Metrics is the decoded request.
	Metrics *colmetricpb.ExportMetricsServiceRequest
}

// OTLP is a running OTLP metrics receiver for one protocol.
type OTLP struct {
	protocol string
	ln       net.Listener
	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	served   chan struct{} // closed when the serving goroutine returns
	inbox    *inbox[Request]
	reject   atomic.Bool
}

// ListenOTLPGRPC starts an OTLP/gRPC metrics receiver on addr, such as
// "127.0.0.1:0", without TLS. It serves until Close.
func ListenOTLPGRPC(addr string) (*OTLP, error) { return ListenOTLPTLS(ProtocolGRPC, addr, nil) }

// ListenOTLPHTTP starts an OTLP/HTTP (protobuf) metrics receiver on addr,
// such as "127.0.0.1:0", without TLS. It accepts POSTs on any path and
// records the path. It serves until Close.
func ListenOTLPHTTP(addr string) (*OTLP, error) { return ListenOTLPTLS(ProtocolHTTP, addr, nil) }

// ListenOTLPTLS starts a receiver for protocol (ProtocolGRPC or
// ProtocolHTTP) on addr that serves TLS with cfg, or plain text if cfg is
// nil. Set cfg.ClientAuth to require client certificates. It serves until
// Close.
func ListenOTLPTLS(protocol, addr string, cfg *tls.Config) (*OTLP, error) {
	if protocol != ProtocolGRPC && protocol != ProtocolHTTP {
		return nil, fmt.Errorf("otlp receiver: protocol %q: want %s or %s", protocol, ProtocolGRPC, ProtocolHTTP)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("otlp receiver: %w", err)
	}
	r := &OTLP{protocol: protocol, ln: ln, served: make(chan struct{}), inbox: newInbox[Request]()}
	if protocol == ProtocolGRPC {
		opts := []grpc.ServerOption{grpc.StatsHandler(compressionRecorder{})}
		if cfg != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
		}
		r.grpcSrv = grpc.NewServer(opts...)
		colmetricpb.RegisterMetricsServiceServer(r.grpcSrv, grpcService{r: r})
		go func() {
			defer close(r.served)
			_ = r.grpcSrv.Serve(ln) // returns when Close stops the server
		}()
		return r, nil
	}
	r.httpSrv = &http.Server{Handler: http.HandlerFunc(r.serveHTTP)}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	go func() {
		defer close(r.served)
		_ = r.httpSrv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return r, nil
}

// Addr is the receiver's host:port.
func (r *OTLP) Addr() string { return r.ln.Addr().String() }

// Next returns the oldest request not yet returned, waiting until one
// arrives or ctx is done.
func (r *OTLP) Next(ctx context.Context) (Request, error) { return r.inbox.next(ctx) }

// Pending reports how many received requests Next has not returned yet.
func (r *OTLP) Pending() int { return r.inbox.pending() }

// SetReject makes the receiver refuse (true) or accept (false) further
// requests, with a non-retryable error: gRPC InvalidArgument, HTTP 400.
// Refused requests are not recorded.
func (r *OTLP) SetReject(reject bool) { r.reject.Store(reject) }

// Close stops the receiver and closes its connections at once.
func (r *OTLP) Close() error {
	var err error
	if r.grpcSrv != nil {
		r.grpcSrv.Stop()
	} else {
		err = r.httpSrv.Close()
	}
	<-r.served
	return err
}

type grpcService struct {
	colmetricpb.UnimplementedMetricsServiceServer
	r *OTLP
}

func (s grpcService) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	if s.r.reject.Load() {
		return nil, status.Error(codes.InvalidArgument, "emittest: rejected")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var compression string
	if c, ok := ctx.Value(compressionKey{}).(*string); ok {
		compression = *c
	}
	s.r.inbox.put(Request{
		Protocol:    ProtocolGRPC,
		Header:      md.Copy(),
		Compression: compression,
		Metrics:     req,
	})
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// compressionKey keys the *string in an RPC's context that
// compressionRecorder fills with the request's grpc-encoding, which gRPC
// keeps out of the metadata.
type compressionKey struct{}

type compressionRecorder struct{}

func (compressionRecorder) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, compressionKey{}, new(string))
}

func (compressionRecorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		if c, ok := ctx.Value(compressionKey{}).(*string); ok {
			*c = h.Compression
		}
	}
}

func (compressionRecorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (compressionRecorder) HandleConn(context.Context, stats.ConnStats) {}

func (r *OTLP) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "emittest: POST only", http.StatusMethodNotAllowed)
		return
	}
	if r.reject.Load() {
		http.Error(w, "emittest: rejected", http.StatusBadRequest)
		return
	}
	body, err := readBody(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m colmetricpb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &m); err != nil {
		http.Error(w, "emittest: decode request: "+err.Error(), http.StatusBadRequest)
		return
	}
	header := make(map[string][]string, len(req.Header))
	for k, v := range req.Header {
		header[strings.ToLower(k)] = v
	}
	r.inbox.put(Request{
		Protocol:    ProtocolHTTP,
		Path:        req.URL.Path,
		Header:      header,
		Compression: req.Header.Get("Content-Encoding"),
		Metrics:     &m,
	})
	resp, err := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp) // the client going away is not the receiver's problem
}

func readBody(req *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxHTTPBody+1))
	if err != nil {
		return nil, fmt.Errorf("emittest: read body: %w", err)
	}
	if len(body) > maxHTTPBody {
		return nil, errors.New("emittest: body too large")
	}
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("emittest: gunzip body: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxHTTPBody+1))
		if err != nil {
			return nil, fmt.Errorf("emittest: gunzip body: %w", err)
		}
		if len(out) > maxHTTPBody {
			return nil, errors.New("emittest: body too large")
		}
		return out, nil
	default:
		return nil, fmt.Errorf("emittest: unsupported Content-Encoding %q", enc)
	}
}
