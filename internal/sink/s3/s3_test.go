package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/metricwrap/metricwrap/internal/sink"
)

func TestNewChecksOptions(t *testing.T) {
	ok := Options{Name: "a", Endpoint: "http://127.0.0.1:9000", Bucket: "b"}
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string // empty: New succeeds
	}{
		{"valid", func(*Options) {}, ""},
		{"bare host", func(o *Options) { o.Endpoint = "s3.example.com" }, ""},
		{"https insecure", func(o *Options) { o.Endpoint = "https://s3.example.com:8443/"; o.Insecure = true }, ""},
		{"credentials", func(o *Options) { o.AccessKeyID, o.SecretAccessKey = "k", "s" }, ""},
		{"no name", func(o *Options) { o.Name = "" }, "name is empty"},
		{"no bucket", func(o *Options) { o.Bucket = "" }, "bucket is empty"},
		{"no endpoint", func(o *Options) { o.Endpoint = "" }, "endpoint is empty"},
		{"ftp", func(o *Options) { o.Endpoint = "ftp://h" }, `scheme "ftp"`},
		{"path", func(o *Options) { o.Endpoint = "http://h/bucket" }, "must not have a path"},
		{"query", func(o *Options) { o.Endpoint = "http://h?x=1" }, "query"},
		{"user info", func(o *Options) { o.Endpoint = "http://k:topsecret@h" }, "must not hold credentials"},
		{"dot-dot prefix", func(o *Options) { o.Prefix = "a/../b" }, `".." segment`},
		{"key id without secret", func(o *Options) { o.AccessKeyID = "k" }, "set both"},
		{"secret without key id", func(o *Options) { o.SecretAccessKey = "topsecret" }, "set both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			s, err := New(o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Name() != o.Name {
					t.Errorf("Name() = %q", s.Name())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, host string
		secure   bool
	}{
		{"http://127.0.0.1:9000", "127.0.0.1:9000", false},
		{"https://s3.amazonaws.com", "s3.amazonaws.com", true},
		{"minio:9000", "minio:9000", true},
		{"http://[::1]:9000/", "[::1]:9000", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, secure, err := parseEndpoint(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if host != tt.host || secure != tt.secure {
				t.Errorf("got %q secure=%t, want %q secure=%t", host, secure, tt.host, tt.secure)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: http.StatusForbidden}, true},
		{"no such bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: http.StatusNotFound}, true},
		{"bad signature", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: http.StatusForbidden}, true},
		{"redirect", minio.ErrorResponse{Code: "PermanentRedirect", StatusCode: http.StatusMovedPermanently}, true},
		{"wrapped", fmt.Errorf("put: %w", minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}), true},
		{"slow down", minio.ErrorResponse{Code: "SlowDown", StatusCode: http.StatusServiceUnavailable}, false},
		{"skewed clock", minio.ErrorResponse{Code: "RequestTimeTooSkewed", StatusCode: http.StatusForbidden}, false},
		{"request timeout", minio.ErrorResponse{Code: "RequestTimeout", StatusCode: http.StatusBadRequest}, false},
		{"throttled 429", minio.ErrorResponse{Code: "Whatever", StatusCode: http.StatusTooManyRequests}, false},
		{"internal", minio.ErrorResponse{Code: "InternalError", StatusCode: http.StatusInternalServerError}, false},
		{"network", &url.Error{Op: "Put", URL: "http://h", Err: errors.New("connection refused")}, false},
		{"deadline", context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sink.IsPermanent(classify("s", tt.err)); got != tt.want {
				t.Errorf("permanent(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	err := fmt.Errorf("odd server says: %w", errors.New("secret s3cr3t is wrong"))
	tests := []struct {
		name, secret, want string
	}{
		{"secret in text", "s3cr3t", "odd server says: secret <secret> is wrong"},
		{"secret absent", "other", err.Error()},
		{"no secret", "", err.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(err, tt.secret)
			if got.Error() != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			for e := got; e != nil; e = errors.Unwrap(e) {
				if tt.secret != "" && strings.Contains(e.Error(), tt.secret) {
					t.Errorf("chain still holds the secret: %q", e)
				}
			}
		})
	}
}

func TestOptionsHideSecret(t *testing.T) {
	o := Options{Name: "a", Endpoint: "http://h", Bucket: "b", AccessKeyID: "AKIDVISIBLE", SecretAccessKey: "topsecret"}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "opts", o)
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%v", &o), logged.String()} {
		if strings.Contains(s, "topsecret") {
			t.Errorf("secret shown: %s", s)
		}
		if !strings.Contains(s, "AKIDVISIBLE") || !strings.Contains(s, "<secret>") {
			t.Errorf("want key id and <secret> shown: %s", s)
		}
	}
}

var _ sink.Sink = (*Sink)(nil)
