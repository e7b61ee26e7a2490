"""Merge arithmetic: w = 0 gives the start's embeddings, w = 1 the fine-tuned ones (to 1e-6), and for
LoRA, scaling the adapter is the weight-space interpolation."""

import copy

import numpy as np
import pytest

from recft.model.adapters import apply_adapter
from recft.model.encoder import BiEncoder
from recft.model.export import merged_backbone
from recft.training.candidate import CandidateError
from recft.training.merge import merge_with_start

from conftest import train_steps

TEXTS = ["how long do fleas live", "A wing in a propeller slipstream was studied at several angles."]


def fresh(tiny_model_dir):
    return BiEncoder.from_pretrained(str(tiny_model_dir), max_length=32, device="cpu")


def embeddings(encoder):
    return np.concatenate([encoder.encode(TEXTS, kind, show_progress=False) for kind in ("query", "passage")])


@pytest.mark.parametrize("kind", ["lora", "full"])
def test_weight_zero_is_the_start_one_is_the_fine_tune_and_half_is_the_average(tiny_model_dir, kind):
    start = fresh(tiny_model_dir)
    tuned = fresh(tiny_model_dir)
    if kind == "lora":
        apply_adapter(tuned, "lora", rank=4, alpha=8, dropout=0.0)
    train_steps(tuned)
    tuned.eval()

    def merged(weight):
        encoder = copy.deepcopy(tuned)
        merge_with_start(encoder, weight, lambda: fresh(tiny_model_dir))
        return encoder.eval()

    assert np.allclose(embeddings(merged(0.0)), embeddings(start), atol=1e-6)
    assert np.allclose(embeddings(merged(1.0)), embeddings(tuned), atol=1e-6)
    assert not np.allclose(embeddings(tuned), embeddings(start), atol=1e-4)  # it did train
    half = merged_backbone(merged(0.5)).state_dict()
    ends = merged_backbone(tuned).state_dict(), start.model.state_dict()
    for name, tensor in half.items():
        if tensor.is_floating_point():
            assert np.allclose(tensor, 0.5 * ends[0][name] + 0.5 * ends[1][name], atol=1e-6), name


def test_bad_weights_are_refused(tiny_model_dir):
    encoder = fresh(tiny_model_dir)
    apply_adapter(encoder, "query_lora", rank=4)
    with pytest.raises(CandidateError, match=r"merge.weight must be in \[0, 1\]"):
        merge_with_start(encoder, 1.5)
    with pytest.raises(CandidateError, match="merges with its start, and none was given"):
        merge_with_start(encoder, 0.5, continuing=True)


def test_a_continued_query_side_adapter_merges_with_the_incumbent_adapter(tiny_model_dir):
    """After a query-side promotion the start is itself an adapter: w = 0 is the incumbent, w = 1 the
    continued adapter, w = 0.5 the average of their LoRA tensors."""
    incumbent = fresh(tiny_model_dir)
    apply_adapter(incumbent, "query_lora", rank=4, alpha=8, dropout=0.0)
    train_steps(incumbent)
    incumbent.eval()
    continued = copy.deepcopy(incumbent)
    train_steps(continued)
    continued.eval()

    def merged(weight):
        encoder = copy.deepcopy(continued)
        merge_with_start(encoder, weight, lambda: copy.deepcopy(incumbent), continuing=True)
        return encoder.eval()

    assert np.allclose(embeddings(merged(0.0)), embeddings(incumbent), atol=1e-6)
    assert np.allclose(embeddings(merged(1.0)), embeddings(continued), atol=1e-6)
    assert not np.allclose(embeddings(continued), embeddings(incumbent), atol=1e-4)  # it did train
    tensors = lambda encoder: {n: t.detach() for n, t in encoder.model.named_parameters()}  # noqa: E731
    half, ends = tensors(merged(0.5)), (tensors(continued), tensors(incumbent))
    lora = [n for n in half if "lora_" in n]
    assert lora and all(np.allclose(half[n], 0.5 * ends[0][n] + 0.5 * ends[1][n], atol=1e-6) for n in lora)


@pytest.mark.parametrize("kind", ["lora", "full"])
def test_adapter_merge_chooses_w_on_dev_and_measures_golden_once(tiny_model_dir, tiny_train_beir, tmp_path, kind):
    from recft.training.job import train_job

    from conftest import compose_train

    cfg = compose_train(
        tiny_model_dir,
        tiny_train_beir,
        tmp_path,
        "adapter=merge",
        f"adapter.kind={kind}",
        "adapter.rank=4",
        "adapter.weights=[0.0,0.5,1.0]",
        "train.lr=1e-2",
    )
    summary = train_job(cfg, tmp_path)
    merge = summary["settings"]["merge"]
    grid = {float(w): row for w, row in merge["grid"].items()}
    assert sorted(grid) == [0.0, 0.5, 1.0] and merge["chosen_on"] == "dev" and "tiny" not in grid[0.0]
    best = max(row["objective"] for row in grid.values())
    assert merge["weight"] == min(w for w, row in grid.items() if row["objective"] == best)  # ties: smaller w
    assert grid[0.0]["objective"] == pytest.approx(0.0, abs=1e-6)  # w = 0 is the start point
    last = summary["epochs"][max(summary["epochs"])]
    assert last["dev"]["ndcg@10"] == pytest.approx(grid[merge["weight"]]["dev"])
