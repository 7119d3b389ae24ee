package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// maxSegment caps the exporter and id parts of a key, far below S3's
// 1,024-byte key limit.
const maxSegment = 100

// objectKeys names the two objects of one batch.
type objectKeys struct {
	Prom, JSON string
}

// keysFor derives the keys from the batch alone (prefix is clean), so
// that redelivering a batch overwrites what an earlier attempt wrote.
func keysFor(prefix string, b *batch.Batch) objectKeys {
	start := b.Start.UTC()
	base := start.Format(time.RFC3339)
	if b.ID != "" {
		base += "-" + segment(b.ID)
	}
	dir := fmt.Sprintf("%s/%04d/%02d/%02d/", segment(b.Exporter), start.Year(), start.Month(), start.Day())
	if prefix != "" {
		dir = prefix + "/" + dir
	}
	return objectKeys{Prom: dir + base + ".prom", JSON: dir + base + ".json"}
}

// cleanPrefix drops empty segments (leading, trailing and doubled
// slashes). It refuses "." and ".." segments, which S3 tools and MinIO
// treat as paths.
func cleanPrefix(p string) (string, error) {
	var parts []string
	for part := range strings.SplitSeq(p, "/") {
		switch part {
		case "":
			continue
		case ".", "..":
			return "", fmt.Errorf("prefix %q must not contain a %q segment", p, part)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "/"), nil
}

// segment makes s safe as one part of a key: characters outside
// [A-Za-z0-9_.-] become '_', "." and ".." are escaped, and long values are
// cut. A changed value gets a short hash of the original, so that two
// different ids ("a/b", "a:b") never share a key.
func segment(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "." || out == ".." {
		out = strings.Repeat("_", len(out))
	}
	if len(out) > maxSegment {
		out = out[:maxSegment]
	}
	if out == s {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return out + "-" + hex.EncodeToString(sum[:4])
}

// record is the .json object: what the run was, for readers that list
// runs without parsing the metrics.
type record struct {
	ID              string            `json:"id"`
	Exporter        string            `json:"exporter"`
	Job             string            `json:"job"`
	Params          map[string]string `json:"params"`
	Labels          map[string]string `json:"labels"`
	Start           time.Time         `json:"start"`
	DurationSeconds float64           `json:"duration_seconds"`
	ExitCode        int               `json:"exit_code"`
	Error           string            `json:"error"`
	// Series counts the metrics (one per family and label set) in the
	// .prom object.
	Series  int    `json:"series"`
	PromKey string `json:"prom_key"`
}

// newRecord encodes the record of b; maps are never null, so readers
// need not check.
func newRecord(b *batch.Batch, promKey string) ([]byte, error) {
	r := record{
		ID:              b.ID,
		Exporter:        b.Exporter,
		Job:             b.Job,
		Params:          b.Params,
		Labels:          b.Labels,
		Start:           b.Start.UTC(),
		DurationSeconds: b.Duration.Seconds(),
		ExitCode:        b.ExitCode,
		Error:           b.Error,
		PromKey:         promKey,
	}
	if r.Params == nil {
		r.Params = map[string]string{}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	for _, mf := range b.Families {
		r.Series += len(mf.Metric)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return append(data, '\n'), nil
}
