"""Stage 5's evidence, on the training split only: what NUDGE-N on top of a trained query-side LoRA buys
the claims about documents it moves, and what it costs the claims about documents nothing trained on.

    .venv/bin/python experiments/best_recipe/nudge_curve.py outputs/recipe_run/run3

The argument is a ``recft train`` run of the SciFact recipe (``candidate/query_adapter``). Its
training pairs and document-grouped dev split are rebuilt exactly as the run drew them. For each γ
of ``recft.nudge.on_top.GAMMAS`` it prints NUDGE's validation top-1 accuracy (a seeded 10 % of the
training claims, held out: all of them, and those whose relevant document other training claims
move) and the dev Δ nDCG@10 against the same model without moved vectors (dev claims' documents
never move: this is only the cost). No golden or TREC DL row is read.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from recft.common.config import CONF_DIR  # noqa: E402
from recft.eval.sets import evaluate_set  # noqa: E402
from recft.eval.settings import EvalSettings  # noqa: E402
from recft.model.cache import EmbeddingCache  # noqa: E402
from recft.model.store import load_encoder  # noqa: E402
from recft.nudge.algorithm import movable, nudge_n_accuracies, nudge_n_at  # noqa: E402
from recft.nudge.corpus import nudge_problem  # noqa: E402
from recft.nudge.on_top import GAMMAS  # noqa: E402
from recft.training.job import load_training_data  # noqa: E402
from recft.training.recipes import with_recipe  # noqa: E402


def main(run: str, recipe: str) -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = with_recipe(compose("train", overrides=[f"recipe={recipe}", "show_progress=false", "output_dir=unused"]))
    data, dev = load_training_data(cfg)
    settings, cache, metric = EvalSettings.from_config(cfg), EmbeddingCache.from_config(cfg), str(cfg.eval.primary)
    encoder = load_encoder("query_lora", f"{run}/candidate", cfg.encoder)
    encoder.eval()
    problem = nudge_problem(encoder, data.corpus.corpus, cfg.data.name, data.pairs, cache, 0.1, int(cfg.seed))
    (train_q, train_a), (val_q, val_a) = problem.train, problem.val
    moved_rows = set(movable(problem.doc_emb, train_q, train_a)[2].tolist())
    touched = [i for i, docs in enumerate(val_a) if moved_rows & set(docs)]
    every = nudge_n_accuracies(problem.doc_emb, train_q, train_a, val_q, val_a, GAMMAS)
    some = nudge_n_accuracies(problem.doc_emb, train_q, train_a, val_q[touched], [val_a[i] for i in touched], GAMMAS)
    plain = evaluate_set(encoder, dev, cache, settings).per_query[metric]
    print(f"{len(val_a)} validation claims, {len(touched)} on a moved document; dev n = {len(plain)}\n")
    print("| γ | validation top-1 | · on a moved document | dev Δ nDCG@10 |\n|---|---|---|---|")
    for gamma in GAMMAS:
        overrides = problem.corpus(nudge_n_at(problem.doc_emb, train_q, train_a, gamma)).overrides()
        nudged = evaluate_set(encoder, dev, cache, settings, overrides).per_query[metric]
        delta = float(np.mean([nudged[q] - plain[q] for q in plain]))
        print(f"| {gamma:g} | {every[gamma]:.3f} | {some[gamma]:.3f} | {delta:+.4f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a recft train run folder of the recipe (query-side LoRA)")
    parser.add_argument("--recipe", default="scifact", help="the recipe the run trained (its dev split)")
    args = parser.parse_args()
    main(args.run, args.recipe)
