package config

import (
	"errors"
	"slices"
	"strings"
)

// LoadPartial is Load for check-config, which must report every problem in
// one pass: besides the Errors it returns the config without the exporters,
// sinks and jobs that have a problem, so that building the rest (built-in
// options, sinks, schedules) can be checked at once. The config is nil only
// when the file cannot be read or is not YAML.
func LoadPartial(filename string) (*Config, error) {
	data, err := readFile(filename)
	if err != nil {
		return nil, err
	}
	return LoadPartialBytes(filename, data)
}

// LoadPartialBytes is LoadPartial for a file already read.
func LoadPartialBytes(filename string, data []byte) (*Config, error) {
	return loadBytes(filename, data)
}

// partial is c without the entries that err (an Errors) names, and err.
func partial(c *Config, err error) (*Config, error) {
	var es Errors
	if !errors.As(err, &es) {
		return nil, err
	}
	keys := make([]string, 0, len(es))
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	named := func(section, name string) bool {
		prefix := join(section, name)
		return slices.ContainsFunc(keys, func(k string) bool {
			return k == prefix || strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[")
		})
	}
	for name := range c.Exporters {
		if named("exporters", name) {
			delete(c.Exporters, name)
		}
	}
	for name := range c.Sinks {
		if named("sinks", name) {
			delete(c.Sinks, name)
		}
	}
	for name := range c.Jobs {
		if named("jobs", name) {
			delete(c.Jobs, name)
		}
	}
	return c, err
}

// Line is the line of key (a dotted path such as "sinks.dt.url"), or of
// its nearest ancestor in the file; 0 when unknown.
func (c *Config) Line(key string) int {
	for p := key; p != ""; {
		if l, ok := c.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// Key is the dotted path of an entry of a section ("exporters", "sinks",
// "jobs"), quoted as the loader quotes names that are not plain words.
func Key(section, name string) string {
	return join(section, name)
}

// Problem is err, found after loading, located at key in the file.
func (c *Config) Problem(key string, err error) *Error {
	return &Error{File: c.file, Line: c.Line(key), Key: key, Msg: err.Error()}
}
