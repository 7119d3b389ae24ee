// Package s3 archives runs in an S3-compatible bucket (AWS S3, MinIO, Ceph
// RGW; SPEC 4.3). Each batch becomes two objects under
// PREFIX/NAME/YYYY/MM/DD/: the exposition text (.prom) and a JSON record of
// the run (.json). The .prom is written first and the .json last, so a
// reader that lists *.json sees only runs whose metrics are complete: the
// .json is the commit marker.
package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/sink"
)

// Content types of the two objects.
const (
	ContentTypeProm = "text/plain; version=0.0.4"
	ContentTypeJSON = "application/json"
)

// Options configure a Sink. Name, Endpoint and Bucket are required.
type Options struct {
	// Name is the sink's name; it keys metrics, logs and the spool.
	Name string
	// Endpoint is the S3 service, as a URL (http://127.0.0.1:9000,
	// https://s3.eu-central-1.amazonaws.com) or a bare host:port, which
	// means https. Only an https endpoint uses TLS.
	Endpoint string
	// Bucket must exist; the sink never creates it.
	Bucket string
	// Prefix goes in front of every key; leading, trailing and doubled
	// slashes are dropped, so "runs", "/runs/" and "runs/" are the same.
	Prefix string
	// Region is the bucket's region; empty asks the service once per
	// bucket (MinIO and Ceph do not care).
	Region string
	// AccessKeyID and SecretAccessKey sign requests; both empty means
	// anonymous requests. The secret is never logged nor put in an error.
	AccessKeyID     string
	SecretAccessKey string
	// Insecure skips verifying the TLS certificate of an https endpoint.
	Insecure bool
	// Timeout bounds one Push (both objects); 0 leaves it to ctx.
	Timeout time.Duration
	// Logger gets a debug line per delivered batch; nil discards.
	Logger *slog.Logger
}

// String shows o without the secret, so that printing Options by mistake
// does not leak it.
func (o Options) String() string {
	secret := ""
	if o.SecretAccessKey != "" {
		secret = "<secret>"
	}
	return fmt.Sprintf("{Name:%s Endpoint:%s Bucket:%s Prefix:%s Region:%s AccessKeyID:%s SecretAccessKey:%s Insecure:%t Timeout:%s}",
		o.Name, o.Endpoint, o.Bucket, o.Prefix, o.Region, o.AccessKeyID, secret, o.Insecure, o.Timeout)
}

// LogValue keeps the secret out of structured logs.
func (o Options) LogValue() slog.Value {
	return slog.StringValue(o.String())
}

// Sink writes batches to a bucket. Push is safe for concurrent use: the
// minio client is.
type Sink struct {
	o        Options
	prefix   string
	endpoint string // scheme://host[:port], without user information
	client   *minio.Client
	log      *slog.Logger
}

var _ sink.Sink = (*Sink)(nil)

// New checks o and builds the client; it contacts nothing, so a service
// that is down at start only delays delivery.
func New(o Options) (*Sink, error) {
	if o.Name == "" {
		return nil, errors.New("s3 sink: name is empty")
	}
	if o.Bucket == "" {
		return nil, fmt.Errorf("s3 sink %s: bucket is empty", o.Name)
	}
	host, secure, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("s3 sink %s: %w", o.Name, err)
	}
	prefix, err := cleanPrefix(o.Prefix)
	if err != nil {
		return nil, fmt.Errorf("s3 sink %s: %w", o.Name, err)
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, fmt.Errorf("s3 sink %s: set both the access key id and the secret access key, or neither", o.Name)
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3 sink %s: %w", o.Name, err)
	}
	if secure && o.Insecure {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	var creds *credentials.Credentials
	if o.AccessKeyID != "" {
		creds = credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, "")
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	client, err := minio.New(host, &minio.Options{
		Creds:     creds,
		Secure:    secure,
		Transport: tr,
		Region:    o.Region,
		// One attempt per Push: the fan-out retries with its own backoff
		// and knows when to spool; retries here would only hide time.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 sink %s: %w", o.Name, redact(err, o.SecretAccessKey))
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return &Sink{o: o, prefix: prefix, client: client, log: log, endpoint: scheme + "://" + host}, nil
}

// parseEndpoint accepts http(s)://host[:port][/] or host[:port] (https)
// and returns what minio.New wants. Its errors never repeat the endpoint,
// which may hold user information.
func parseEndpoint(raw string) (host string, secure bool, err error) {
	if raw == "" {
		return "", false, errors.New("endpoint is empty")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", false, errors.New("endpoint is not valid; want http(s)://host[:port] or host[:port]")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("endpoint scheme %q is not http or https", u.Scheme)
	case u.User != nil:
		return "", false, errors.New("endpoint must not hold credentials; set the access key id and secret access key instead")
	case u.Path != "" && u.Path != "/":
		return "", false, errors.New("endpoint must not have a path; put the bucket in bucket and the key prefix in prefix")
	case u.RawQuery != "" || u.Fragment != "":
		return "", false, errors.New("endpoint must not have a query or fragment")
	}
	return u.Host, u.Scheme == "https", nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return s.o.Name }

// Destination implements sink.Sink: the endpoint, the bucket and the
// prefix the objects go under.
func (s *Sink) Destination() string {
	return fmt.Sprintf("s3 %s bucket=%q prefix=%q", s.endpoint, s.o.Bucket, s.prefix)
}

// Push implements sink.Sink: it writes the .prom object, then the .json
// record. Pushing the same batch again (a spool replay) writes the same
// keys, so a retry after a half-done push overwrites rather than
// duplicates. Answers that retrying cannot change (access denied, bad
// credentials, no such bucket, other 4xx) are sink.Permanent; network
// errors, timeouts, throttling and 5xx are not.
func (s *Sink) Push(ctx context.Context, b *batch.Batch) error {
	if s.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
	}
	keys := keysFor(s.prefix, b)
	var prom bytes.Buffer
	if b.Empty() {
		return sink.Refused(s.o.Name, errors.New("the batch has no sample"))
	}
	if err := exposition.Encode(&prom, b.Families, expfmt.FmtText); err != nil {
		return sink.Refused(s.o.Name, err)
	}
	rec, err := newRecord(b, keys.Prom)
	if err != nil {
		return sink.Refused(s.o.Name, err)
	}
	if err := s.put(ctx, keys.Prom, prom.Bytes(), ContentTypeProm); err != nil {
		return err
	}
	if err := s.put(ctx, keys.JSON, rec, ContentTypeJSON); err != nil {
		return err
	}
	s.log.Debug("pushed to s3", "sink", s.o.Name, "bucket", s.o.Bucket, "key", keys.JSON, "bytes", prom.Len())
	return nil
}

// put writes one object and classifies its error.
func (s *Sink) put(ctx context.Context, key string, data []byte, contentType string) error {
	_, err := s.client.PutObject(ctx, s.o.Bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType, DisableMultipart: true})
	if err == nil {
		return nil
	}
	kind := classify(s.o.Name, err)
	err = fmt.Errorf("s3 sink %s: put %s/%s: %w%s", s.o.Name, s.o.Bucket, key, redact(err, s.o.SecretAccessKey), s.hint(err))
	if kind != nil {
		// The redacted text above, the answer's kind from sink.Answer.
		return fmt.Errorf("%w: %w", kind, errors.New(err.Error()))
	}
	return err
}

// hint names the S3 error code and status, and for the common
// configuration mistakes, what to fix.
func (s *Sink) hint(err error) string {
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.Code == "" {
		return ""
	}
	h := fmt.Sprintf(" (%s, %d)", er.Code, er.StatusCode)
	switch er.Code {
	case "SignatureDoesNotMatch":
		h += "; check the access key id and secret access key"
	case "InvalidAccessKeyId":
		h += "; check the access key id"
	case "AccessDenied":
		h += "; check the credentials and that they may write to the bucket"
	case "NoSuchBucket":
		h += fmt.Sprintf("; create bucket %s or fix the bucket name", s.o.Bucket)
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "InvalidRegion":
		h += "; check the region"
	}
	return h
}

// retryableCodes are S3 error codes that a later attempt may not get,
// though their status is a 4xx.
var retryableCodes = map[string]bool{
	"RequestTimeout":       true,
	"RequestTimeTooSkewed": true,
	"SlowDown":             true,
	"Throttling":           true,
	"ThrottlingException":  true,
	"RequestLimitExceeded": true,
	"RequestThrottled":     true,
	"ExpiredToken":         true,
	"OperationAborted":     true, // a conflicting operation on the bucket is in progress
}

// classify turns an S3 answer in err into sink.Answer's verdict (nil when
// err carries no answer: connection refused, TLS, timeouts, all
// retryable). S3 says some passing conditions with a 4xx status
// (retryableCodes); those are classified as a 503 would be.
func classify(sinkName string, err error) error {
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.StatusCode == 0 {
		return nil
	}
	status := er.StatusCode
	if retryableCodes[er.Code] || status == 499 {
		status = http.StatusServiceUnavailable
	}
	return sink.Answer(sinkName, status, nil, []byte(er.Code))
}

// redact keeps secret out of err's text. The minio client does not put it
// there, but an error from a future version or an odd server must not
// leak it into logs. A redacted error drops the chain, which would still
// hold the secret, so classify err before redacting it.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<secret>"))
}
