// Package config loads and validates metricwrap.yml.
//
// The file has seven sections, all optional:
//
//	global:         timeout (30s), max_concurrency (0: WORKERS or 2 x CPUs),
//	                labels, labels_from_env (label: ENV_VAR), python,
//	                kill_grace (2s), max_output_bytes (16MiB), max_dir_bytes (64MiB),
//	                capture_bytes (64KiB), env_passthrough
//	exporters_dir:  where exporters are discovered (empty: ./exporters when it exists)
//	discovery:      open_params, follow_symlinks: what a discovered exporter may do
//	exporters:      NAME: exactly one of builtin, command, python, scrape; params,
//	                env, env_passthrough, timeout, kill_grace, max_output_bytes, max_dir_bytes,
//	                output (file|stdout|seed), dir, job, cache_ttl, stale_on_error,
//	                schedule, schedule_params, sinks, warm, options
//	sinks:          NAME: type (pushgateway|dynatrace|s3|remote_write) and that
//	                type's keys; timeout (10s) and retry_for (30s) for all
//	spool:          dir (DefaultSpoolDir), max_bytes (1GiB), max_age (72h)
//	jobs:           NAME: labels, sinks, prefix, metrics (Argo Workflows style)
//
// Durations are Prometheus durations (30s, 1m, 72h, 1d); sizes are Bytes
// (65536, 64KiB, 10MB, 1GiB). A parameter's pattern is anchored; pass_as arg
// writes DefaultArgFormat (--NAME=VALUE) unless `arg:` says otherwise.
//
// Environment: `${VAR}` in any value (never in a key) is replaced by the
// variable's value, `${VAR:-text}` falls back to text, and `$$` is a literal
// `$`. A `$` followed by anything else is kept as is. An unset variable with
// no fallback is an error, so a missing token fails at load time rather than
// being sent empty. Expansion happens per value on the parsed tree, so line
// numbers stay those of the file, and `max_concurrency: ${N}` is an integer.
//
// Strictness: unknown keys are errors, as are keys that do not apply (a
// `method` on an s3 sink, `env` on a builtin exporter). Loading does not stop
// at the first problem: Load returns Errors, one *Error per problem, each
// printed as `FILE:LINE: KEY: MESSAGE`, for example
//
//	metricwrap.yml:12: exporters.cisco.timeout: invalid duration "20x"
//	metricwrap.yml:7: exporters.cisco: unknown key "comand"
//
// To get there, the package walks the yaml.Node tree itself rather than
// decoding through yaml.v3 (which stops at the first custom error and does
// not say which key). Each type still has a DefaultX value applied before
// its keys, and an UnmarshalYAML that decodes and validates it the same way,
// for use on its own. Checks that need the whole file (that sinks named by
// an exporter or job exist) run only when a whole Config is loaded; that a
// builtin exists is checked when exporters are built, not here.
//
// Secrets (sink passwords, tokens, keys) are config.Secret and print as
// <secret>; Config.String also hides exporter env values and URL passwords.
package config
