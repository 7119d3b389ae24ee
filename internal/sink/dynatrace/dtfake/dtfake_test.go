package dtfake_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

func TestCheckLine(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) string { return " " + itoa(now.Add(d).UnixMilli()) }
	tests := []struct {
		line  string
		valid bool
	}{
		{"cpu.temperature 55.3", true},
		{"cpu.temperature gauge,55.3", true},
		{"cpu.temperature,dc=eu gauge,-1.5e3", true},
		{`my.value,ci_platform="keptn",keptn_project="project A" 42`, true},
		{`k8s.pods,ns=a\ b\,c\=d\\e\"f count,delta=3`, true},
		{"lat,host=h gauge,min=1,max=5,sum=6,count=2", true},
		{"lat,host=h gauge,count=2,sum=6,max=5,min=1", true},
		{"cpu.temperature 1" + ms(-59*time.Minute), true},
		{"cpu.temperature 1" + ms(9*time.Minute), true},
		{"#cpu.temperature gauge dt.meta.description=The\\ temperature,dt.meta.unit=Celsius", true},
		{"ab 1", false},                          // key too short
		{strings.Repeat("a", 251) + " 1", false}, // key too long
		{"1cpu 1", false},                        // first section starts with a digit
		{"system.load.average.1m 1", false},      // later section starts with a digit
		{"cpu.-x 1", false},                      // section starts with '-'
		{"cpu..x 1", false},                      // empty section
		{"dt.cpu 1", false},                      // reserved prefix
		{"cpü.x 1", false},                       // non-ASCII key
		{"cpu,Host=a 1", false},                  // upper-case dimension key
		{"cpu,1host=a 1", false},                 // dimension section starts with a digit
		{"cpu,host= 1", false},                   // empty value
		{"cpu,host=a\tb 1", false},               // control character
		{`cpu,host=a"b 1`, false},                // unescaped quote
		{`cpu,host=a\qb 1`, false},               // unknown escape
		{`cpu,host="a 1`, false},                 // unclosed quote
		{"cpu,host=" + strings.Repeat("x", 251) + " 1", false},
		{"cpu,host=" + strings.Repeat("é", 250) + " 1", true},
		{"cpu,host=" + strings.Repeat(`\,`, 250) + " 1", true},
		{"cpu,h=" + strings.Repeat("a", 100) + ",g=b 1", true},
		{"cpu," + strings.Repeat("x", 101) + "=a 1", false},
		{"cpu " + "NaN", false},
		{"cpu gauge,Inf", false},
		{"cpu gauge,1e999", false},
		{"cpu gauge,0x10", false},
		{"cpu count,5", false},                                  // cumulative count
		{"cpu count,delta=-1", false},                           // negative delta
		{"cpu gauge,min=1,max=5,sum=6", false},                  // count missing
		{"cpu gauge,min=1,max=5,sum=6,count=0", false},          // count < 1
		{"cpu gauge,min=1,max=5,sum=6,count=1.5", false},        // count not integer
		{"cpu gauge,min=4,max=5,sum=6,count=2", false},          // avg < min
		{"cpu gauge,min=1,max=2,sum=6,count=2", false},          // avg > max
		{"cpu gauge,min=1,max=5,sum=6,count=2,min=1", false},    // repeated field
		{"cpu 1" + ms(-61*time.Minute), false},                  // too old
		{"cpu 1" + ms(11*time.Minute), false},                   // too far ahead
		{"cpu 1 12x", false},                                    // bad timestamp
		{"cpu", false},                                          // no payload
		{"#cpu.temperature gauge", false},                       // metadata without properties
		{"#cpu.temperature gauge dt.meta.color=red", false},     // unknown property
		{"#cpu.temperature histogram dt.meta.unit=Byte", false}, // unknown type
	}
	for _, tc := range tests {
		name := tc.line
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			err := dtfake.CheckLine(tc.line, now)
			if (err == nil) != tc.valid {
				t.Errorf("CheckLine(%q) = %v, want valid %v", tc.line, err, tc.valid)
			}
		})
	}

	t.Run("51 dimensions", func(t *testing.T) {
		line := "cpu"
		for i := range 51 {
			line += ",d" + itoa(int64(i)) + "=v"
		}
		if err := dtfake.CheckLine(line+" 1", now); err == nil {
			t.Error("51 dimensions accepted")
		}
		if err := dtfake.CheckLine(strings.Replace(line, ",d50=v", "", 1)+" 1", now); err != nil {
			t.Errorf("50 dimensions rejected: %v", err)
		}
	})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestServer(t *testing.T) {
	tests := []struct {
		name        string
		token       string
		auth        string
		contentType string
		body        string
		wantStatus  int
		wantInBody  string
		wantLines   int
	}{
		{"all valid", "tok", "Api-Token tok", "text/plain; charset=utf-8", "cpu.a 1\ncpu.b 2\n", 202, `"linesOk":2`, 2},
		{"partial rejection ingests the valid lines", "tok", "Api-Token tok", "text/plain", "cpu.a 1\nab 2\ncpu.c 3\n", 400,
			`"linesInvalid":1,"linesOk":2`, 2},
		{"missing token", "tok", "", "text/plain", "cpu.a 1\n", 401, "Missing authorization", 0},
		{"wrong token", "tok", "Api-Token nope", "text/plain", "cpu.a 1\n", 401, "Token Authentication failed", 0},
		{"no-token mode", "", "", "text/plain; charset=utf-8", "cpu.a 1\n", 202, `"linesOk":1`, 1},
		{"empty request", "", "", "text/plain", "\n", 400, "empty request", 0},
		{"wrong content type", "", "", "application/json", "cpu.a 1\n", 415, "text/plain", 0},
		{"too large", "", "", "text/plain", strings.Repeat("cpu.a 1\n", 125001), 413, "", 0},
		{"too many lines", "", "", "text/plain", strings.Repeat("cpu.a 1\n", 1001), 400, "at most 1000", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := dtfake.New(tc.token)
			req := httptest.NewRequest(http.MethodPost, "/api/v2/metrics/ingest", strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			req.Header.Set("Content-Type", tc.contentType)
			rec := httptest.NewRecorder()
			fake.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantInBody) {
				t.Errorf("answer %d %s; want %d containing %q", rec.Code, rec.Body, tc.wantStatus, tc.wantInBody)
			}
			if got := len(fake.Lines()); got != tc.wantLines {
				t.Errorf("accepted %d lines, want %d", got, tc.wantLines)
			}
		})
	}
}

func TestServerListsTenInvalidLines(t *testing.T) {
	fake := dtfake.New("")
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("ok.line 1\n"+strings.Repeat("x 1\n", 12)))
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	fake.ServeHTTP(rec, req)
	var body struct {
		LinesOk      int
		LinesInvalid int
		Error        struct {
			Code         int
			Message      string
			InvalidLines []struct {
				Line  int
				Error string
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 400 || body.LinesOk != 1 || body.LinesInvalid != 12 || len(body.Error.InvalidLines) != 10 ||
		body.Error.InvalidLines[0].Line != 2 || !strings.Contains(body.Error.Message, "First 10 errors reported") {
		t.Errorf("answer %d %s", rec.Code, rec.Body)
	}
}

func TestServerInjectedFailures(t *testing.T) {
	fake := dtfake.New("")
	fake.FailNext(dtfake.Failure{Status: 429, RetryAfter: "5"}, dtfake.Failure{Status: 500})
	var codes []int
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("cpu.a 1\n"))
		req.Header.Set("Content-Type", "text/plain")
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
		if rec.Code == 429 && rec.Header().Get("Retry-After") != "5" {
			t.Errorf("429 without the Retry-After header")
		}
	}
	if codes[0] != 429 || codes[1] != 500 || codes[2] != 202 {
		t.Errorf("codes = %v, want [429 500 202]", codes)
	}
	if len(fake.Lines()) != 1 || len(fake.Requests()) != 3 {
		t.Errorf("lines %v, requests %d", fake.Lines(), len(fake.Requests()))
	}
}
