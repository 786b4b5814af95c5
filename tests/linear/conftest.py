"""One BLAS thread for the linear lab's tests, as ``ftunlearn theory`` uses by default.

The matrices are small: several BLAS threads only contend for the cores with other test
processes and make the tests slower, never faster.
"""

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def single_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield
