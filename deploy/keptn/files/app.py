"""Stand-in for the tool a Keptn task runs (the Keptn guide's infracost
example). It does its work and writes its results, in the Prometheus text
format, to the file named by METRICS_FILE; `metricwrap exec` adds the job's
own metrics and the Keptn labels and delivers everything, so the tool needs
no push code, no credentials and no Dynatrace line format.
"""
import os

# Do the real work here; these numbers are a sample.
results = {"monthly_cost_dollars": 42.0, "resources": 17}

with open(os.environ["METRICS_FILE"], "w") as f:
    for name, value in results.items():
        f.write(f"# TYPE {name} gauge\n{name} {value}\n")
