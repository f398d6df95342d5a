"""The trigger record names the missing columns in words an on-call engineer can act on."""

import pandas as pd
import pytest
from retrain.pipeline.evaluate_triggers import missing_columns_message


def test_pandas_key_error_becomes_a_list_of_missing_columns():
    with pytest.raises(KeyError) as info:
        pd.DataFrame({"amount": [1.0]})[["amount", "merchant_category", "hour"]]
    assert missing_columns_message(info.value) == "missing required columns ['merchant_category', 'hour']"


def test_single_column_key_error():
    assert missing_columns_message(KeyError("Store")) == "missing required column 'Store'"
