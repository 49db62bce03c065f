"""Multi-process training on PyTorch's own engine: the process group torchrun describes.

``torchrun --nproc_per_node N -m vrt train CONFIG`` starts N copies of vrt, each finding
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its environment.
:func:`init_from_env` joins them into one process group (NCCL between GPUs, gloo on CPUs).
Outside torchrun every helper here is a cheap no-op for a world of one, so the training code
has a single path and a plain ``vrt train`` never touches ``torch.distributed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

# Long enough for rank 0 to write a large checkpoint or encode a database while the others
# wait in a collective, short enough that a dead peer does not hold a cluster allocation for hours.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


def env_world_size() -> int:
    """The world size torchrun announced, 1 when not launched by it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    """The process's index on its node: which GPU it drives."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0 writes the run's files and prints; the others only compute."""
    return rank() == 0


def init_from_env(device: torch.device, *, timeout: timedelta | None = None) -> torch.device:
    """Join torchrun's process group if launched by it; return the device this process drives.

    On CUDA each process takes the GPU of its ``LOCAL_RANK`` and the NCCL backend; elsewhere
    gloo. ``timeout``: how long a collective waits for every rank (:data:`COLLECTIVE_TIMEOUT`
    by default). Idempotent: a second call (an export after a training run) reuses the group.
    """
    timeout = timeout or COLLECTIVE_TIMEOUT
    if env_world_size() <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", local_rank())
        torch.cuda.set_device(device)
    if not is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", timeout=timeout, device_id=device)
        else:
            dist.init_process_group("gloo", timeout=timeout)
    return device


def shutdown() -> None:
    """Leave the process group (at the end of a command), so the process exits cleanly."""
    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def _comm_device(tensor: torch.Tensor) -> torch.device:
    # NCCL moves CUDA tensors only; gloo moves CPU tensors (and copies CUDA ones itself).
    if is_initialized() and dist.get_backend() == dist.Backend.NCCL:
        return torch.device("cuda", torch.cuda.current_device())
    return tensor.device if tensor.device.type == "cpu" else torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum over ranks (a new tensor on ``tensor``'s device)."""
    if not is_initialized():
        return tensor.clone()
    moved = tensor.detach().to(_comm_device(tensor)).clone()
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    return moved.to(tensor.device)


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is set on at least one rank (every rank gets the same answer)."""
    if not is_initialized():
        return flag
    return bool(all_reduce_sum(torch.tensor([int(flag)], dtype=torch.int64)).item())


def all_gather_variable(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``tensor``, in rank order, where the first dimension may differ between ranks.

    ``all_gather`` needs equal shapes, so sizes are exchanged first and each tensor is padded to
    the largest, then trimmed. No gradient flows through the result.
    """
    if not is_initialized():
        return [tensor.detach()]
    device = _comm_device(tensor)
    local = tensor.detach().to(device).contiguous()
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.int64, device=device))
    counts = [int(s.item()) for s in sizes]
    largest = max(counts)
    padded = local.new_zeros((largest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return [g[:n].to(tensor.device) for g, n in zip(gathered, counts, strict=True)]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All ranks' rows concatenated in rank order; only this rank's rows carry gradient.

    Every rank then computes the same loss over the same rows, and each backpropagates into its
    own rows only; DDP's gradient averaging divides the sum of those parts by the world size,
    so the caller multiplies the loss by ``world_size()`` to get the gradient of the loss over
    the union of the batches (what one process holding all of them would compute).
    """
    if not is_initialized():
        return tensor
    parts = all_gather_variable(tensor)
    parts[rank()] = tensor
    return torch.cat(parts)


def all_gather_objects(value: T) -> list[T]:
    """Every rank's picklable ``value``, in rank order (small things: lists of skipped videos)."""
    if not is_initialized():
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value: T | None, *, source: int = 0) -> T:
    """Rank ``source``'s ``value`` on every rank (``value`` is ignored on the others)."""
    if not is_initialized():
        return value  # type: ignore[return-value]
    box: list[Any] = [value if rank() == source else None]
    dist.broadcast_object_list(box, src=source)
    return box[0]


def on_main_then_broadcast(action: Callable[[], T]) -> T:
    """Run ``action`` on rank 0 only and hand its result, or its exception, to every rank.

    Used for what only rank 0 may do (read or create the run directory): an error there must
    stop every rank, not leave the others waiting in the next collective until the timeout.
    """
    if not is_initialized():
        return action()
    if is_main():
        try:
            outcome: tuple[bool, Any] = (True, action())
        except Exception as error:  # re-raised below on every rank, rank 0 included
            outcome = (False, error)
        try:
            broadcast_object(outcome)
        except Exception:  # an exception that cannot be pickled: the others get its text
            if outcome[0]:
                raise
            broadcast_object((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
    else:
        outcome = broadcast_object(None)
    ok, value = outcome
    if not ok:
        raise value
    return value


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics).

    DDP keeps parameters identical, but each rank updates its running statistics from its own
    batches, so before evaluating, every rank takes rank 0's: the ones its checkpoint holds.
    """
    if not is_initialized():
        return
    for buffer in module.buffers():
        moved = buffer.to(_comm_device(buffer))
        dist.broadcast(moved, src=0)
        if moved is not buffer:
            buffer.copy_(moved)


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average the gradients of ``parameters`` over ranks, as DDP does for the model's own.

    For parameters outside the DDP-wrapped model (a loss term's classifier): without it each
    rank would step them with its own gradient and the copies would drift apart.
    """
    if not is_initialized():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    averaged = all_reduce_sum(flat) / world_size()
    offset = 0
    for grad in grads:
        grad.copy_(averaged[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()
