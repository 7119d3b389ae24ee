package exposition

import (
	"strconv"
	"strings"
	"testing"
)

// TestQuickCanonical: the fast answer agrees with formatting the float.
func TestQuickCanonical(t *testing.T) {
	for _, s := range []string{
		"1", "12", "123456", "1234567", "-5", "0", "-0", "01", "0.5", "0.50", "-19.63", "0.0001",
		"0.00001", "123456.5", "1234567.5", "0.123456789012345", "0.1234567890123456", "1.", ".5",
		"1e3", "16.650000000000002", "999999.999999999", "+1", "0.001", "100", "1.0",
		"5.0", "0.0", "-0.0", "-3.0", "1234567.0", "2.50", "0.10", "7.00",
	} {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, om := range []bool{false, true} {
			for _, k := range []numberKind{kindFloat, kindUint} {
				canonical, known := quickCanonical(s, om, k)
				if !known {
					continue
				}
				if want := string(appendCanonical(nil, v, om, k)) == s; canonical != want {
					t.Errorf("quickCanonical(%q, om=%v, kind=%d) = %v, formatting says %v", s, om, k, canonical, want)
				}
			}
		}
	}
}

// TestFastNumbers: the shortcuts read and write numbers as strconv does.
func TestFastNumbers(t *testing.T) {
	p := &parser{}
	for _, s := range []string{"0", "-0", "7", "-12", "999999999999999", "1000000", "000123"} {
		if v, ok := readNumber(s + ".0"); !ok || v != func() float64 { f, _ := strconv.ParseFloat(s, 64); return f }() {
			t.Errorf("readNumber(%q) = %v, %v", s+".0", v, ok)
		}
		want, _ := strconv.ParseFloat(s, 64)
		got, err := p.value(s)
		if err != nil || got != want || (got == 0 && (1/got > 0) != (1/want > 0)) {
			t.Errorf("value(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, v := range []float64{1, -1, 7, 999999, -999999, 1e6, 123456.5, 2} {
		for _, om := range []bool{false, true} {
			want := strconv.FormatFloat(v, 'g', -1, 64)
			if om && !strings.ContainsAny(want, ".e") {
				want += ".0"
			}
			if got := string(appendCanonical(nil, v, om, kindFloat)); got != want {
				t.Errorf("appendCanonical(%v, om=%v) = %q, want %q", v, om, got, want)
			}
		}
	}
}
