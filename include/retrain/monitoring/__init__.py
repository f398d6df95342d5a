"""What the pipeline decided, for people: a per-model index of runs, the views built from it
(trend, gate failure rate, drift, validation, registry), SVG charts and one HTML renderer shared
by the Airflow UI page and `retrain report`."""

# Where the plugin mounts the page (retrain.airflow.ui) and where emails link to: one place.
PAGE_URL_PREFIX = "/retrain-ui"
PAGE_PATH = PAGE_URL_PREFIX + "/models/{model}"
