"""Export a trained encoder as a plain sentence-transformers model folder.

LoRA adapters are merged into the base weights (peft ``merge_and_unload``), then the folder gets
the sentence-transformers module files — Transformer, Pooling (mean or CLS, as recft pooled),
Normalize — so ``SentenceTransformer(path)`` reproduces recft's embeddings with no recft installed.
A ``query_lora`` encoder has two towers and cannot become one plain model: each tower is exported
on its own (``tower="query"``: the adapter merged in; ``tower="passage"``: the base, adapter taken
off). Nothing written depends on the destination, so one encoder exported twice gives the same bytes.
"""

from __future__ import annotations

import copy
from pathlib import Path

from recft.common.atomic import write_json
from recft.model.encoder import BiEncoder


def merged_backbone(encoder: BiEncoder, tower: str | None = None):
    """The plain transformers model with any LoRA merged in (the encoder itself is left as it is); for
    the passage tower of a query-side encoder, the base with the adapter taken off, not merged."""
    model = encoder.model
    if encoder.passage_uses_base and tower == "passage":
        return copy.deepcopy(model).unload()
    if hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
    return model


def stateless_tokenizer(tokenizer):
    """A copy without the truncation and padding state the last tokenize call left in its backend
    (``tokenizer.json`` would otherwise differ from export to export of the same model)."""
    tokenizer = copy.deepcopy(tokenizer)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    return tokenizer


def export_sentence_transformers(encoder: BiEncoder, folder: str | Path, tower: str | None = None) -> Path:
    """Write ``encoder`` (or, for a query-side encoder, its ``query`` or ``passage`` tower) as a
    sentence-transformers folder."""
    if encoder.passage_uses_base and tower not in ("query", "passage"):
        raise ValueError("a query_lora encoder has separate query and passage towers; export one tower at a time")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    merged_backbone(encoder, tower).save_pretrained(folder)
    stateless_tokenizer(encoder.tokenizer).save_pretrained(folder)
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": encoder.max_length, "do_lower_case": False})
    write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": encoder.dim,
            "pooling_mode_cls_token": encoder.pooling == "cls",
            "pooling_mode_mean_tokens": encoder.pooling == "mean",
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if encoder.normalize:
        (folder / "2_Normalize").mkdir(exist_ok=True)
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    write_json(folder / "modules.json", modules)
    prompts = {kind: prompt for kind, prompt in encoder.prompts.items() if prompt}
    write_json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": prompts.get("query", ""), "passage": prompts.get("passage", "")},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    what = f" ({tower} tower)" if encoder.passage_uses_base else ""
    (folder / "README.md").write_text(
        f"# {Path(encoder.name).name}{what}, fine-tuned with recft\n\n```python\n"
        "from sentence_transformers import SentenceTransformer\n"
        'model = SentenceTransformer("path/to/this/folder")\nq = model.encode(texts, prompt_name="query")\n```\n'
    )
    return folder
