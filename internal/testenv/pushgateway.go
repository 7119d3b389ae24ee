package testenv

import (
	"encoding/json"
	"net/http"
	"testing"
)

// GatewayMetric is one sample group of the Pushgateway's GET /api/v1/metrics.
type GatewayMetric struct {
	Labels    map[string]string `json:"labels"`
	Value     string            `json:"value"`
	Buckets   map[string]string `json:"buckets"`
	Quantiles map[string]string `json:"quantiles"`
	Count     string            `json:"count"`
	Sum       string            `json:"sum"`
}

// GatewayFamily is one metric family of a group, as the API shows it.
type GatewayFamily struct {
	Type    string          `json:"type"`
	Help    string          `json:"help"`
	Metrics []GatewayMetric `json:"metrics"`
}

// GatewayGroup is one grouping key and its families by name, without the
// Pushgateway's own push_time_seconds and friends.
type GatewayGroup struct {
	Labels   map[string]string
	Families map[string]GatewayFamily
}

// ReadPushgateway returns what the Pushgateway at base holds, by group.
func ReadPushgateway(t testing.TB, base string) []GatewayGroup {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decode /api/v1/metrics: %v", err)
	}
	var out []GatewayGroup
	for _, d := range doc.Data {
		g := GatewayGroup{Families: map[string]GatewayFamily{}}
		for k, raw := range d {
			switch k {
			case "labels":
				if err := json.Unmarshal(raw, &g.Labels); err != nil {
					t.Fatal(err)
				}
			case "last_push_successful", "push_time_seconds", "push_failure_time_seconds":
			default:
				var f GatewayFamily
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatalf("family %s: %v", k, err)
				}
				g.Families[k] = f
			}
		}
		out = append(out, g)
	}
	return out
}
