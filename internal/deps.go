// Package internal holds no code; this file pins the modules that the
// packages under it are being built against, until each is imported.
package internal

import (
	_ "github.com/alecthomas/kingpin/v2"
	_ "github.com/golang/snappy"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/prometheus/client_golang/exp/api/remote"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/push"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/prometheus/client_model/go"
	_ "github.com/prometheus/common/config"
	_ "github.com/prometheus/common/expfmt"
	_ "github.com/prometheus/common/promslog"
	_ "github.com/prometheus/common/version"
	_ "github.com/prometheus/exporter-toolkit/web"
	_ "go.uber.org/goleak"
	_ "gopkg.in/yaml.v3"
)
