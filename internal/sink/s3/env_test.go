package s3

import (
	"strings"
	"testing"
)

// envMap is a getenv over a fixed set, so that tests can run in parallel.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Options
		wantErr []string // substrings of the error
	}{
		{
			name: "ceph set",
			env: map[string]string{"S3_ENDPOINT_URL": "http://ceph:7480", "CEPH_BUCKET": "b", "CEPH_BUCKET_PREFIX": "p",
				"CEPH_KEY_ID": "ck", "CEPH_SECRET_KEY": "cs"},
			want: Options{Name: "s3", Endpoint: "http://ceph:7480", Bucket: "b", Prefix: "p", AccessKeyID: "ck", SecretAccessKey: "cs"},
		},
		{
			name: "object storage set",
			env: map[string]string{"OBJECT_STORAGE_ENDPOINT_URL": "https://os", "OBJECT_STORAGE_BUCKET_NAME": "ob",
				"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "as"},
			want: Options{Name: "s3", Endpoint: "https://os", Bucket: "ob", AccessKeyID: "ak", SecretAccessKey: "as"},
		},
		{
			name: "ceph names win field by field",
			env: map[string]string{"S3_ENDPOINT_URL": "http://ceph", "OBJECT_STORAGE_ENDPOINT_URL": "https://os",
				"CEPH_BUCKET": "cb", "OBJECT_STORAGE_BUCKET_NAME": "ob",
				"CEPH_KEY_ID": "ck", "CEPH_SECRET_KEY": "cs", "AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "as"},
			want: Options{Name: "s3", Endpoint: "http://ceph", Bucket: "cb", AccessKeyID: "ck", SecretAccessKey: "cs"},
		},
		{
			name: "credentials never mixed across pairs",
			env: map[string]string{"S3_ENDPOINT_URL": "http://ceph", "CEPH_BUCKET": "cb",
				"CEPH_KEY_ID": "ck", "AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "as"},
			want: Options{Name: "s3", Endpoint: "http://ceph", Bucket: "cb", AccessKeyID: "ck"},
		},
		{
			name: "mixed endpoint and bucket families",
			env:  map[string]string{"OBJECT_STORAGE_ENDPOINT_URL": "https://os", "CEPH_BUCKET": "cb"},
			want: Options{Name: "s3", Endpoint: "https://os", Bucket: "cb"},
		},
		{
			name:    "nothing set",
			env:     map[string]string{"AWS_ACCESS_KEY_ID": "ak"},
			wantErr: []string{"S3_ENDPOINT_URL or OBJECT_STORAGE_ENDPOINT_URL", "CEPH_BUCKET or OBJECT_STORAGE_BUCKET_NAME"},
		},
		{
			name:    "no bucket",
			env:     map[string]string{"S3_ENDPOINT_URL": "http://ceph"},
			wantErr: []string{"no bucket"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OptionsFromEnv(envMap(tt.env))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "endpoint") != strings.Contains(strings.Join(tt.wantErr, " "), "ENDPOINT") {
					t.Errorf("error %q complains about the endpoint wrongly", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFillFromEnv(t *testing.T) {
	env := envMap(map[string]string{"S3_ENDPOINT_URL": "http://env", "CEPH_BUCKET": "envb", "CEPH_BUCKET_PREFIX": "envp",
		"CEPH_KEY_ID": "envk", "CEPH_SECRET_KEY": "envs"})
	tests := []struct {
		name     string
		in, want Options
	}{
		{
			name: "config wins",
			in:   Options{Name: "a", Endpoint: "http://cfg", Bucket: "cfgb", Prefix: "cfgp", AccessKeyID: "k", SecretAccessKey: "s"},
			want: Options{Name: "a", Endpoint: "http://cfg", Bucket: "cfgb", Prefix: "cfgp", AccessKeyID: "k", SecretAccessKey: "s"},
		},
		{
			name: "empty fields filled",
			in:   Options{Name: "a", Bucket: "cfgb", Region: "r"},
			want: Options{Name: "a", Endpoint: "http://env", Bucket: "cfgb", Prefix: "envp", Region: "r", AccessKeyID: "envk", SecretAccessKey: "envs"},
		},
		{
			name: "secret alone from env",
			in:   Options{Name: "a", Endpoint: "http://cfg", Bucket: "b", Prefix: "p", AccessKeyID: "k"},
			want: Options{Name: "a", Endpoint: "http://cfg", Bucket: "b", Prefix: "p", AccessKeyID: "k", SecretAccessKey: "envs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			got.FillFromEnv(env)
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
