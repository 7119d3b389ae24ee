package exposition

import (
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// AddLabels adds constant labels (an exporter's configured labels, an
// instance name) to every metric. A label the metric already has wins, as
// the exporter knows its own series best. Label pairs end up sorted by
// name, as client_golang keeps them. New pairs are allocated per metric,
// so families that share pairs with others are not changed behind their
// back. Names are not checked here: Validate does that.
func AddLabels(fams []*dto.MetricFamily, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			added := false
			for _, n := range names {
				if hasPair(m.Label, n) {
					continue
				}
				if !added {
					m.Label = slices.Clip(m.Label) // never append into a shared array
					added = true
				}
				v := labels[n]
				m.Label = append(m.Label, &dto.LabelPair{Name: &n, Value: &v})
			}
			if added {
				slices.SortStableFunc(m.Label, comparePairs)
			}
		}
	}
}

func hasPair(ps []*dto.LabelPair, name string) bool {
	for _, p := range ps {
		if p.GetName() == name {
			return true
		}
	}
	return false
}
