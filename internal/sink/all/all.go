// Package all links every sink into the binary: importing it for its side
// effects runs each sink package's init, which registers its sink.Kind.
package all

import (
	_ "github.com/metricwrap/metricwrap/internal/sink/dynatrace"   // dynatrace
	_ "github.com/metricwrap/metricwrap/internal/sink/otlp"        // otlp
	_ "github.com/metricwrap/metricwrap/internal/sink/pushgateway" // pushgateway
	_ "github.com/metricwrap/metricwrap/internal/sink/remotewrite" // remote_write
	_ "github.com/metricwrap/metricwrap/internal/sink/s3"          // s3
)
