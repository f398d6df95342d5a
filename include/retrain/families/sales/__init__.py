"""Daily store-sales forecasting (the Rossmann model), split by concern:

* `features`: typing the landed weeks, merging the store table, the feature engineering;
* `checks`: the store-table, processed and features validation stages;
* `family`: the family itself (frames, preprocessing, time-ordered CV, scoring).

Everything public is re-exported here, so `retrain.families.sales.X` keeps working.
"""

from retrain.families.sales.checks import (  # noqa: F401
    feature_checks,
    not_run,
    processed_checks,
    validation_stages,
)
from retrain.families.sales.family import SalesForecastFamily  # noqa: F401
from retrain.families.sales.features import *  # noqa: F401,F403
from retrain.families.sales.features import (  # noqa: F401
    Processed,
    UnusableBatch,
    clean_stores,
    engineer_features,
    history_weeks,
    iso_week_monday,
    model_rows,
    process,
    read_processed,
    read_stores,
    stores_input,
)
