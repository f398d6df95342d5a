"""What the pipeline decided, for people: a per-model index of runs, the views built from it
(trend, gate failure rate, drift, validation, registry), SVG charts and one HTML renderer shared
by the Airflow UI page and `retrain report`."""
