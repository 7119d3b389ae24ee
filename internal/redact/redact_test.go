package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	Register("hunter2-planted", "eu", "")
	for _, c := range []struct{ in, want string }{
		{"scraping http://h:9100/metrics?token=abc&target=x: refused", "scraping http://h:9100/metrics?target=xxxxx&token=xxxxx: refused"},
		{`invalid URL "https://bob:pw@h/x"`, `invalid URL "https://bob:xxxxx@h/x"`},
		{"https://bob@h/x keeps a user without password", "https://bob@h/x keeps a user without password"},
		{"login failed for hunter2-planted!", "login failed for " + Mask + "!"},
		{"http://u:hunter2-planted@h/", "http://u:" + Mask + "@h/"},
		{"region eu is too short to be a secret", "region eu is too short to be a secret"},
		{"no url here", "no url here"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Error(nil); got != "" {
		t.Errorf("Error(nil) = %q", got)
	}
}

func TestHandler(t *testing.T) {
	Register("s3cr3t-in-a-log")
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil))).With("url", "http://u:p@h/?k=v")
	log.Info("pushing with s3cr3t-in-a-log", "err", errors.New("401 for s3cr3t-in-a-log"),
		slog.Group("sink", "token", "s3cr3t-in-a-log"), "list", []string{"s3cr3t-in-a-log"}, "n", 3)
	out := buf.String()
	for _, leak := range []string{"s3cr3t-in-a-log", "u:p@", "k=v"} {
		if strings.Contains(out, leak) {
			t.Errorf("log line shows %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, "n=3") || strings.Count(out, Mask) != 4 {
		t.Errorf("log line lost its other values or masks: %s", out)
	}
}
