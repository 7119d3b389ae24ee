package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
)

// TestWarnOpenParams: serve warns about open parameters reachable without
// authentication, and stays quiet when the web config requires it.
func TestWarnOpenParams(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "open.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes("t.yml", []byte("discovery: {open_params: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ExportersDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(auth, []byte("basic_auth_users:\n  u: $2y$10$abcdefghijklmnopqrstuv\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noAuth := filepath.Join(dir, "tls.yml")
	if err := os.WriteFile(noAuth, []byte("tls_server_config:\n  cert_file: c\n  key_file: k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]bool{"": true, noAuth: true, auth: false} {
		var buf bytes.Buffer
		warnOpenParams(slog.New(slog.NewTextHandler(&buf, nil)), set, file)
		if got := strings.Contains(buf.String(), "exporters=open"); got != want {
			t.Errorf("web config %q: warned %v, want %v: %s", file, got, want, buf.String())
		}
	}
}
