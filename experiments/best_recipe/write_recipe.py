r"""Write the recipe the dev-only search chose as a recipe file (``recft.training.recipes``).

    .venv/bin/python experiments/best_recipe/write_recipe.py adapter=merge adapter.kind=query_lora adapter.lr=3e-4 \
        miner=topk_margin train.keep=best train.forgetting_budget=0.005 train.epochs=10 \
        +nudge_step@adapter.nudge=default --name scifact --search search5

The arguments are the Hydra overrides of the chosen run (``search.py`` ranks the runs on dev only);
the settings are snapshotted resolved, with the provenance of the search beside them, into
``conf/recipe/<name>.yaml`` (``--out`` for another path).
"""

from __future__ import annotations

import argparse

from hydra import compose, initialize_config_dir

from recft.common.config import CONF_DIR
from recft.training.recipes import write_recipe

PROVENANCE = {
    "tuned_on": "dev",
    "dev_split": "a seeded 20 % of SciFact's training claims drawn by relevant-document group "
    "(dev.share 0.2, dev.group_by documents, seed 42): no dev claim shares an abstract with a training pair, n = 162",
    "objective": "the largest dev Δ nDCG@10 whose loss on the SQuAD selection probe (never gated nor reported) "
    "stays within train.forgetting_budget = 0.005, over the runs' epochs and merge weights; each run of the "
    "recipe chooses its own epoch and merge weight by the same rule",
}

NUDGE_OBJECTIVE = (
    "; then NUDGE-N on top (adapter.nudge), which the dev split cannot value since it moves only documents "
    "training claims answer: its γ is the best by NUDGE's validation share of the training claims among those "
    "whose dev loss against the model without moved vectors stays within the same budget (nudge_curve.py)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="the chosen run's Hydra overrides")
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", default=None, help="default conf/recipe/<name>.yaml")
    parser.add_argument("--search", default="search4", help="the search stage that chose it (its .sh and .md here)")
    args = parser.parse_args()
    stage = f"experiments/best_recipe/{args.search}"
    provenance = {"search": f"{stage}.sh (its table: {args.search}.md)", **PROVENANCE}
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*args.overrides, "output_dir=unused"])
    if cfg.adapter.get("nudge") is not None:
        provenance["objective"] += NUDGE_OBJECTIVE
    print(write_recipe(args.out or CONF_DIR / "recipe" / f"{args.name}.yaml", args.name, cfg, provenance))


if __name__ == "__main__":
    main()
