package jsonexporter

import (
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/common/config"
)

// secret is a password or token given inline, in a file or in an
// environment variable. Files and variables are read on every run so a
// rotated secret is picked up without a reload. Messages name where a
// secret comes from, never its value.
type secret struct {
	value config.Secret
	file  string
	env   string
}

func (s *secret) sources() int {
	n := 0
	for _, set := range []bool{s.value != "", s.file != "", s.env != ""} {
		if set {
			n++
		}
	}
	return n
}

func (s *secret) read() (string, error) {
	switch {
	case s.file != "":
		data, err := os.ReadFile(s.file)
		if err != nil {
			return "", fmt.Errorf("reading secret: %w", err)
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.file)
		}
		return v, nil
	case s.env != "":
		v := os.Getenv(s.env)
		if v == "" {
			return "", fmt.Errorf("secret environment variable %s is empty or unset", s.env)
		}
		return v, nil
	}
	return string(s.value), nil
}
