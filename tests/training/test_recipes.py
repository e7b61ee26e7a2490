"""Recipes as things: found by name or path, applied whole, refused when tuned on golden, written back."""

import pytest
import yaml

from recft.training.recipes import Recipe, RecipeError, with_recipe, write_recipe

from conftest import compose


def test_the_shipped_recipe_applies_its_groups_whole_and_merges_train():
    cfg = compose("train", "loss=gist", "recipe=scifact", "output_dir=x")
    applied = with_recipe(cfg)
    recipe = Recipe.load("scifact")
    assert applied.adapter._target_ == "recft.training.merge_search.MergeSearchMaker"
    assert "guide" not in applied.loss and applied.miner.miner.rank_end == 50  # gist's guide: not the recipe's loss
    assert applied.train.keep == "best" and applied.train.epochs == recipe.settings["train"]["epochs"]
    assert applied.train.min_pairs == cfg.train.min_pairs  # a train key the recipe does not name is kept
    assert applied.recipe_info.name == "scifact" and applied.recipe_info.provenance.tuned_on == "dev"
    assert with_recipe(compose("train", "output_dir=x")).adapter == compose("train", "output_dir=x").adapter


def test_a_recipe_file_by_path_round_trips_and_a_golden_tuned_one_is_refused(tmp_path):
    cfg = compose("train", "adapter=query_lora", "loss.temperature=0.07", "train.epochs=3", "output_dir=x")
    path = write_recipe(tmp_path / "mine.yaml", "mine", cfg, {"tuned_on": "dev", "search": "by hand"})
    applied = with_recipe(compose("train", f"recipe_file={path}", "output_dir=x"))
    assert applied.loss.temperature == 0.07 and applied.train.epochs == 3 and applied.adapter.kind == "query_lora"
    data = yaml.safe_load(path.read_text())
    data["provenance"]["tuned_on"] = "golden"
    golden = tmp_path / "golden.yaml"
    golden.write_text(yaml.safe_dump(data))
    with pytest.raises(RecipeError, match="was tuned on a golden split; it is refused unless tune_on=golden"):
        with_recipe(compose("train", f"recipe_file={golden}", "output_dir=x"))
    assert with_recipe(compose("train", f"recipe_file={golden}", "tune_on=golden", "output_dir=x")).train.epochs == 3


def test_a_missing_or_malformed_recipe_is_one_line(tmp_path):
    with pytest.raises(RecipeError, match=r"recipe=nosuch: no such recipe file .* \(shipped recipes: scifact\)"):
        Recipe.load("nosuch")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsettings: {adapter: {}, optimizer: {}}\nprovenance: {}\n")
    with pytest.raises(RecipeError, match="unknown settings optimizer"):
        Recipe.load(str(bad))


def test_recipe_equals_a_file_is_rewritten_to_recipe_file():
    from recft.common.config import recipe_files

    rewritten = recipe_files(["recipe=conf/recipe/scifact.yaml", "recipe=scifact", "train.epochs=2"])
    assert rewritten[0].startswith("recipe_file=/") and rewritten[0].endswith("conf/recipe/scifact.yaml")
    assert rewritten[1:] == ["recipe=scifact", "train.epochs=2"]
