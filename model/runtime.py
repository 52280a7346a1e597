"""Process-wide torch settings, applied once by whoever runs the model."""

from __future__ import annotations

import contextlib

import torch


def configure_threads(threads: int) -> None:
    """Budget torch's intra-op threads; interop threads can only be set before first use."""
    torch.set_num_threads(threads)
    # torch allows setting interop threads once per process, before any parallel work.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)
