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


def assert_same_files(a, b, count: int) -> None:
    """Folders ``a`` and ``b`` hold the same ``count`` files, byte for byte."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == count
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
