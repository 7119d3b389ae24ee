package s3

import (
	"errors"
	"fmt"
)

// EnvName is the sink's name when it is configured from the environment
// alone (`--push s3`).
const EnvName = "s3"

// The environment variables of SPEC 4.3, in two families: the Ceph set
// (S3_ENDPOINT_URL with CEPH_*) and the generic set (OBJECT_STORAGE_* with
// the AWS credentials).
const (
	EnvEndpoint  = "S3_ENDPOINT_URL"
	EnvBucket    = "CEPH_BUCKET"
	EnvPrefix    = "CEPH_BUCKET_PREFIX"
	EnvKeyID     = "CEPH_KEY_ID"
	EnvSecretKey = "CEPH_SECRET_KEY"

	EnvObjectStorageEndpoint = "OBJECT_STORAGE_ENDPOINT_URL"
	EnvObjectStorageBucket   = "OBJECT_STORAGE_BUCKET_NAME"
	EnvAWSKeyID              = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretKey          = "AWS_SECRET_ACCESS_KEY"
)

// OptionsFromEnv builds the options of the env-only sink named "s3".
//
// Precedence, field by field: S3_ENDPOINT_URL over
// OBJECT_STORAGE_ENDPOINT_URL, CEPH_BUCKET over OBJECT_STORAGE_BUCKET_NAME,
// prefix from CEPH_BUCKET_PREFIX. The region is left empty: the client asks
// the service for the bucket's region, and AWS_REGION, often set for
// other tools, could make a Ceph or MinIO endpoint refuse the signature.
// Credentials are taken as a pair, never mixed: the
// CEPH_KEY_ID/CEPH_SECRET_KEY pair when either is set, else
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. The specific CEPH_* names win
// because AWS_* variables are often set for other tools on the same
// machine, while CEPH_* are set for this one.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{Name: EnvName}
	o.FillFromEnv(getenv)
	var missing []error
	if o.Endpoint == "" {
		missing = append(missing, fmt.Errorf("no endpoint: set %s or %s", EnvEndpoint, EnvObjectStorageEndpoint))
	}
	if o.Bucket == "" {
		missing = append(missing, fmt.Errorf("no bucket: set %s or %s", EnvBucket, EnvObjectStorageBucket))
	}
	if err := errors.Join(missing...); err != nil {
		return Options{}, fmt.Errorf("s3 sink from the environment: %w", err)
	}
	return o, nil
}

// FillFromEnv sets the fields of o that are empty from the environment,
// with the precedence of OptionsFromEnv, so that a configured sink can
// leave the endpoint, bucket or credentials to the environment. A
// configured value always wins. Credentials come from one pair: when the
// config sets the key id but not the secret, the secret comes from the
// pair the environment provides.
func (o *Options) FillFromEnv(getenv func(string) string) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	fill := func(field *string, names ...string) {
		if *field == "" {
			*field = first(names...)
		}
	}
	fill(&o.Endpoint, EnvEndpoint, EnvObjectStorageEndpoint)
	fill(&o.Bucket, EnvBucket, EnvObjectStorageBucket)
	fill(&o.Prefix, EnvPrefix)
	keyEnv, secretEnv := EnvAWSKeyID, EnvAWSSecretKey
	if getenv(EnvKeyID) != "" || getenv(EnvSecretKey) != "" {
		keyEnv, secretEnv = EnvKeyID, EnvSecretKey
	}
	fill(&o.AccessKeyID, keyEnv)
	fill(&o.SecretAccessKey, secretEnv)
}
