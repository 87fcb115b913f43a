"""Draining an engine's stream in a test."""

from __future__ import annotations

from collections.abc import AsyncIterator

from inference.compare.metrics import Chunk


async def collect(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    """Every chunk of a stream, in order."""
    return [chunk async for chunk in stream]
