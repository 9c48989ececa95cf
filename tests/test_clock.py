from datetime import datetime, timedelta

from storage.clock import to_millis, utc_now


def test_to_millis_is_exact_where_a_float_timestamp_is_not():
    assert to_millis(datetime(2004, 9, 23, 15, 54, 43, 735000)) == 1095954883735


def test_to_millis_round_trips_every_millisecond_of_a_sample():
    for millis in range(0, 4 * 10**12, 7_919_993_311):
        assert to_millis(datetime(1970, 1, 1) + timedelta(milliseconds=millis)) == millis


def test_now_has_millisecond_precision():
    assert utc_now().microsecond % 1000 == 0
