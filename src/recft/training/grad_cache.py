"""GradCache: a contrastive loss over a large batch with memory bounded by a mini-batch.

InfoNCE wants large batches (every other row's passage is a negative), but the activations of a
256-token batch of 256 do not fit a small machine. GradCache (Gao et al., 2021; sentence-
transformers' ``CachedMultipleNegativesRankingLoss``) splits the step in three:

1. embed the batch mini-batch by mini-batch **without** a graph (only the [B, d] embeddings stay);
2. compute the loss on those embeddings as leaves and take its gradient with respect to them;
3. embed each mini-batch again **with** a graph and backpropagate that mini-batch's slice of the
   cached gradient — one mini-batch of activations alive at a time.

The loss and every parameter gradient equal those of the plain loss on the whole batch (tested to
1e-5); the price is a second forward pass. Each mini-batch's random state is saved in step 1 and
replayed in step 3, so dropout masks match. Step 3 runs inside the returned loss's backward hook,
so Lightning's automatic optimisation (``loss.backward()``, accumulation, clipping) is unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch

Embed = Callable[[dict], torch.Tensor]  # tokens → embeddings, differentiable


def _rows(tokens: dict, start: int, stop: int) -> dict:
    return {key: value[start:stop] for key, value in tokens.items()}


@contextmanager
def _replayed(state: dict):
    """Run a block with the random state ``state`` (CPU and, when used, CUDA), restoring it after."""
    devices = list(range(torch.cuda.device_count())) if "cuda" in state else []
    with torch.random.fork_rng(devices=devices):
        torch.set_rng_state(state["cpu"])
        if devices:
            torch.cuda.set_rng_state_all(state["cuda"])
        yield


def _state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


class Side:
    """One side of the batch (queries, positives or negatives): its tokens, how to embed them, and
    the random state of each mini-batch (for the replay)."""

    def __init__(self, tokens: dict, embed: Embed, mini_batch: int):
        self.tokens, self.embed, self.mini_batch = tokens, embed, mini_batch
        self.precomputed = "embeddings" in tokens  # a frozen passage tower's vectors: nothing to replay
        self.states: list[dict] = []

    def _spans(self) -> list[tuple[int, int]]:
        size = len(next(iter(self.tokens.values())))
        return [(start, min(start + self.mini_batch, size)) for start in range(0, size, self.mini_batch)]

    def first_pass(self) -> torch.Tensor:
        """All embeddings, without a graph, as a leaf that collects the loss's gradient."""
        if self.precomputed:
            return self.embed(self.tokens)
        chunks = []
        with torch.no_grad():
            for start, stop in self._spans():
                self.states.append(_state())
                chunks.append(self.embed(_rows(self.tokens, start, stop)))
        return torch.cat(chunks).requires_grad_()

    def second_pass(self, grad: torch.Tensor) -> None:
        """Embed each mini-batch again with a graph and backpropagate its slice of ``grad``."""
        if self.precomputed or grad is None:
            return
        for (start, stop), state in zip(self._spans(), self.states):
            with _replayed(state), torch.enable_grad():
                embeddings = self.embed(_rows(self.tokens, start, stop))
            embeddings.backward(grad[start:stop])


def cached_loss(loss_fn: Callable, sides: dict[str, Side], rest: Callable[[dict], dict]) -> torch.Tensor:
    """The loss of the whole batch, built as GradCache does; ``rest(embeddings)`` gives the loss's
    other arguments (shapes, ids) from the first-pass embeddings. Returns a loss whose ``backward()``
    runs the second pass."""
    leaves = {name: side.first_pass() for name, side in sides.items()}
    with torch.enable_grad():
        loss = loss_fn(**rest(leaves))
    wanted = [name for name in leaves if leaves[name].requires_grad]
    grads = dict(zip(wanted, torch.autograd.grad(loss, [leaves[n] for n in wanted]))) if wanted else {}
    surrogate = loss.detach().requires_grad_()

    def backward(grad_output: torch.Tensor) -> torch.Tensor:
        for name, side in sides.items():
            if name in grads:
                side.second_pass(grads[name] * grad_output)
        return grad_output

    surrogate.register_hook(backward)
    return surrogate
