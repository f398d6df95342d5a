"""One module per task of the weekly run: each reads its inputs from the store, calls the pure rules
in `retrain.core`, the registry and the families, and writes its records. No Airflow imports."""
