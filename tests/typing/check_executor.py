"""What a type checker must conclude about gothreads.ThreadPoolExecutor, as it does for
concurrent.futures.ThreadPoolExecutor: checked by ``make typecheck`` (mypy --strict),
never run.  A line marked ``# type: ignore[...]`` must be an error: with
warn_unused_ignores (part of --strict) an accepted call makes the ignore unused, and the
check fails."""
from concurrent.futures import Future
from typing import Iterator

from typing_extensions import assert_type

import gothreads


def work(n: int) -> str:
    return str(n)


def pair(a: int, b: str, *, flag: bool = False) -> bytes:
    return b""


with gothreads.ThreadPoolExecutor(max_workers=2) as ex:
    assert_type(ex, gothreads.ThreadPoolExecutor)
    assert_type(ex.submit(work, 3), "Future[str]")
    assert_type(ex.submit(work, 3).result(), str)
    assert_type(ex.submit(pair, 1, "x", flag=True), "Future[bytes]")
    assert_type(ex.map(work, [1, 2]), Iterator[str])
    assert_type(ex.map(pair, [1], ["x"]), Iterator[bytes])
    assert_type(ex.shutdown(wait=False), bool)

    # What mypy must reject, as it does with the stdlib's executor.
    ex.submit(work, "not an int")  # type: ignore[arg-type]
    ex.submit(work)  # type: ignore[call-arg]
    ex.submit(work, 3, 4)  # type: ignore[call-arg]
    ex.submit(pair, 1, "x", flag="yes")  # type: ignore[arg-type]
    fut = ex.submit(work, 3)
    f: "Future[int]" = fut  # type: ignore[assignment]
    r = fut.result()
    i: int = r  # type: ignore[assignment]
    for b in ex.map(work, [1]):
        b.decode()  # type: ignore[attr-defined]
