module github.com/metricwrap/metricwrap

go 1.26.8

require github.com/prometheus/client_model v0.6.3

require google.golang.org/protobuf v1.36.12 // indirect
