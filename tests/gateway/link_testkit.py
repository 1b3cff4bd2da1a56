"""Shared by the link tests: a bounded wait for a condition on the running event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

WAIT_S = 3.0


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.002)

    try:
        await asyncio.wait_for(poll(), WAIT_S)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")
