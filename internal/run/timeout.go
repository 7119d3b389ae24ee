package run

import (
	"strconv"
	"time"
)

// DefaultTimeout bounds a run when nothing else does (an exporter built
// without a config: tests, the compatibility form's defaults).
const DefaultTimeout = 30 * time.Second

// minTimeout keeps a tiny or bogus scrape-timeout header from giving a run
// no time at all.
const minTimeout = 100 * time.Millisecond

// timeout is the one place a run's bound is decided: the explicit one (the
// run command's --timeout) when given, else the exporter's own; lowered to
// what the scraper allows (Prometheus' scrape timeout less offset, when
// that leaves anything); DefaultTimeout when none applies; never below
// minTimeout. The bound then travels only as the run's context deadline.
func timeout(explicit, exporterTimeout, scrape, offset time.Duration) time.Duration {
	t := exporterTimeout
	if explicit > 0 {
		t = explicit
	}
	if scrape > 0 {
		if scrape-offset > 0 {
			scrape -= offset
		}
		if t <= 0 || scrape < t {
			t = scrape
		}
	}
	if t <= 0 {
		t = DefaultTimeout
	}
	return max(t, minTimeout)
}

// ParseScrapeTimeout reads Prometheus' X-Prometheus-Scrape-Timeout-Seconds
// header; 0 (no bound from the scraper) for anything but a positive number
// of seconds below a million.
func ParseScrapeTimeout(h string) time.Duration {
	if h == "" {
		return 0
	}
	secs, err := strconv.ParseFloat(h, 64)
	if err != nil || !(secs > 0 && secs < 1e6) {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}
