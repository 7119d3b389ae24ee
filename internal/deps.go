// Package internal holds no code; this file pins the modules that the
// packages under it are being built against, until each is imported.
package internal

import (
	_ "github.com/golang/snappy"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/prometheus/client_golang/exp/api/remote"
	_ "github.com/prometheus/client_model/go"
	_ "go.uber.org/goleak"
)
