package exposition

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Encode writes families in format f (expfmt.FmtText, or an OpenMetrics
// format, which ends with "# EOF"). The families should have passed
// Validate: expfmt trusts its input. Text and OpenMetrics go straight to
// expfmt's writers, skipping the per-family copy NewEncoder makes to
// escape names, since only legacy names get this far.
func Encode(w io.Writer, fams []*dto.MetricFamily, f expfmt.Format) error {
	switch f.FormatType() {
	case expfmt.TypeTextPlain:
		bw := bufio.NewWriterSize(w, 64<<10)
		for _, mf := range fams {
			if _, err := expfmt.MetricFamilyToText(bw, mf); err != nil {
				return fmt.Errorf("encode %s: %w", mf.GetName(), err)
			}
		}
		return bw.Flush()
	case expfmt.TypeOpenMetrics:
		if v := f.Version(); v == expfmt.OpenMetricsVersion_1_0_0 || v == expfmt.OpenMetricsVersion_0_0_1 {
			bw := bufio.NewWriterSize(w, 64<<10)
			for _, mf := range fams {
				if _, err := expfmt.MetricFamilyToOpenMetrics(bw, mf); err != nil {
					return fmt.Errorf("encode %s: %w", mf.GetName(), err)
				}
			}
			if _, err := expfmt.FinalizeOpenMetrics(bw); err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			return bw.Flush()
		}
	case expfmt.TypeUnknown:
		return fmt.Errorf("encode: unknown format %q", f)
	}
	enc := expfmt.NewEncoder(w, f)
	for _, mf := range fams {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("encode: %w", err)
		}
	}
	return nil
}

// Text is Encode to text 0.0.4 for tests, logs and debug output. It stops
// at the first family expfmt cannot write (one that fails Validate), so
// use Encode when the families may be invalid.
func Text(fams []*dto.MetricFamily) []byte {
	var b bytes.Buffer
	_ = Encode(&b, fams, expfmt.FmtText)
	return b.Bytes()
}
