package exporter

import (
	"bytes"
	"fmt"

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
