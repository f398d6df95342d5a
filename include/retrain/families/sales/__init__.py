"""Daily store-sales forecasting (the Rossmann model), split by concern:

* `settings`: the family's keys of the model file's `data` section;
* `processing`: typing the landed weeks, merging the store table;
* `features`: the feature engineering (`history`: the sales-history features at a horizon);
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
# (features re-exports what it uses from history, processing and settings: they come with the *)
