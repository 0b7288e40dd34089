"""Helpers shared by test modules (importable because tests/ is on sys.path under pytest)."""

import pytest

from benchmark.errors import DataError


def data_error(fn, *args, **kwargs) -> str:
    """Call ``fn`` expecting a DataError; check the message is a single line and return it."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message
