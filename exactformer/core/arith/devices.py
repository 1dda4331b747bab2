"""Which torch devices a float arithmetic may compute on."""

from __future__ import annotations

import torch

from ..errors import InputError

__all__ = ["available_devices", "torch_device"]


def available_devices() -> list[str]:
    """The torch devices this machine can compute on: ``"cpu"``, then ``"cuda:0"``... and ``"mps"`` when present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{k}" for k in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def torch_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device`, refusing one that cannot be used here.

    Raises
    ------
    InputError
        For a name torch does not know (``"gpu"``), and for a device this machine does not have (``"cuda"`` without
        a CUDA GPU or a CUDA build of torch, ``"cuda:3"`` with fewer GPUs, ``"mps"`` off Apple silicon); the message
        lists the devices that are available.
    """
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {device!r} (not a torch device name); available here: "
                         f"{', '.join(available_devices())}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise InputError(f"device {str(device)!r} is not available: {why}; available here: "
                             f"{', '.join(available_devices())}")
        if dev.index is not None and dev.index >= count:
            raise InputError(f"device {str(device)!r} is not available: this machine has {count} CUDA GPU(s); "
                             f"available here: {', '.join(available_devices())}")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError(f"device {str(device)!r} is not available (no Apple MPS device); available here: "
                             f"{', '.join(available_devices())}")
        return dev
    raise InputError(f"device {str(device)!r} is not supported by the torch evaluator; available here: "
                     f"{', '.join(available_devices())}")
