"""Process-wide torch settings, applied once by whoever runs the model."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import torch

from model.errors import ModelError


def select_device(name: str = "auto") -> torch.device:
    """`auto` takes the GPU when torch sees one; `cuda` insists on it."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("DEVICE=cuda, but torch sees no GPU: install a CUDA build of torch")
    return torch.device(name)


def configure_threads(threads: int) -> None:
    """Budget torch's intra-op threads; interop threads can only be set before first use."""
    torch.set_num_threads(threads)
    # torch allows setting interop threads once per process, before any parallel work.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)


def release_unused_memory() -> None:
    """Hand freed heap memory back to the system. glibc keeps what a large computation
    freed (a long text's tokens and windows) in its arenas, where the process's memory
    stays at its peak for good; malloc_trim returns it. A no-op without glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)
