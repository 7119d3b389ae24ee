// Package python is the python exporter kind: modules in the original
// metrics tool's layout (exporters/NAME.py or exporters/NAME/NAME.py, a
// class derived from Exporter) run by the bundled runner (the files in the
// repository's python/ directory). It picks the interpreter (FindInterpreter),
// makes the exporters Build asks for (Kind), and runs a request cold (Run:
// a fresh interpreter) or warm (RunWarm, through a Pool). Which of the two
// a run gets is not decided here but in internal/run, once per run: warm
// under serve unless the exporter says `warm: false`, cold after the pool
// refuses the run, and always cold for run and exec. Every process it
// needs (the interpreter probes, the warm workers, the runs) is started
// through internal/runner.
//
// Warm workers spare a scrape the interpreter's start-up and the import of
// prometheus_client. A worker is the bundled runner (python/metricwrap_runner.py) in its
// worker mode, one per exporters directory and interpreter. It imports
// prometheus_client and every Python exporter of the directory once, then,
// for each run, forks a child that does exactly what a cold run does. The
// child is driven through runner.RunLaunched, so it gets the same private
// METRICS_FILE directory, environment, process group, output caps, timeout
// kill and errors as a cold run; only how it comes to exist differs.
//
// A worker is started on the first run that could use it and replaced when
// a module file it imported changes; one that dies is restarted after a
// backoff. Until a worker is ready the pool refuses runs
// (exporter.ErrNotWarm) and internal/run runs them cold, so nothing ever
// waits for a worker.
//
// Caveat: module-level code of an exporter runs once, in the worker, with
// the worker's environment (PATH, HOME, LANG, TZ only) and working
// directory (the exporters directory's parent), not in each run. An
// exporter whose import opens connections, starts threads, reads
// per-exporter env or arguments, or prints, should set `warm: false`.
package python
