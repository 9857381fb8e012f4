"""The objective tests compile attack loops inside train steps: fast compilation for all of them
(the `tiny` model and batch come from tests/conftest.py)."""
import pytest


@pytest.fixture(scope="module", autouse=True)
def _fast_compile(fast_compile):
  yield
