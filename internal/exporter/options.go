package exporter

import (
	"bytes"
	"fmt"
	"regexp"

	"gopkg.in/yaml.v3"
)

// DecodeOptions decodes a built-in's `options:` block into v, refusing
// unknown keys so a typo fails at load time. A nil node leaves v as it is.
func DecodeOptions(node *yaml.Node, v any) error {
	if node == nil || node.Kind == 0 {
		return nil
	}
	// yaml.Node.Decode has no strict mode: re-encode and decode strictly.
	data, err := yaml.Marshal(node)
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	return nil
}

// URLPattern is the default pattern of a built-in's `target` parameter when
// it takes a URL (http, json); a config may narrow it under `params:`.
var URLPattern = regexp.MustCompile(`^(?:https?://\S+)$`)

var (
	httpTokenRE   = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	headerValueRE = regexp.MustCompile("^[^\x00-\x08\x0a-\x1f\x7f]*$")
)

// IsHTTPToken reports whether s can be an HTTP method or header name.
func IsHTTPToken(s string) bool { return httpTokenRE.MatchString(s) }

// CheckHeaders checks the `headers:` option of a built-in that makes HTTP
// requests: names must be tokens, values free of control characters.
func CheckHeaders(headers map[string]string) error {
	for name, value := range headers {
		if !IsHTTPToken(name) {
			return fmt.Errorf("options.headers: %q is not a header name", name)
		}
		if !headerValueRE.MatchString(value) {
			return fmt.Errorf("options.headers.%s: value contains a control character", name)
		}
	}
	return nil
}
