import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from test_adapters import train_steps

from recft.model.adapters import apply_adapter
from recft.model.encoder import BiEncoder
from recft.model.export import export_sentence_transformers

TEXTS = ["how long do fleas live", "A wing in a propeller slipstream was studied at several angles."]


@pytest.mark.parametrize("pooling,prompts", [("mean", ("", "")), ("cls", ("query: ", "passage: "))])
def test_merged_lora_loads_in_sentence_transformers_with_the_same_embeddings(
    tiny_model_dir, tmp_path, pooling, prompts
):
    encoder = BiEncoder.from_pretrained(
        str(tiny_model_dir),
        pooling=pooling,
        query_prompt=prompts[0],
        passage_prompt=prompts[1],
        max_length=64,
        device="cpu",
    )
    apply_adapter(encoder, "lora", rank=4, alpha=8, dropout=0.0)
    train_steps(encoder)
    folder = export_sentence_transformers(encoder, tmp_path / "st")
    model = SentenceTransformer(str(folder), device="cpu")
    for kind in ("query", "passage"):
        theirs = model.encode(TEXTS, prompt_name=kind if prompts[0] else None)
        assert np.allclose(theirs, encoder.encode(TEXTS, kind, show_progress=False), atol=1e-5)
    assert np.allclose(np.linalg.norm(model.encode(TEXTS), axis=1), 1, atol=1e-5)  # Normalize module present


def test_query_lora_cannot_be_one_plain_model(tiny_encoder, tmp_path):
    apply_adapter(tiny_encoder, "query_lora", rank=4)
    with pytest.raises(ValueError, match="query_lora"):
        export_sentence_transformers(tiny_encoder, tmp_path / "st")
