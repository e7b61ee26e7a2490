import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from recft.common.config import CONF_DIR
from recft.model import encoder as encoder_module
from recft.model.encoder import BiEncoder, EncoderLoadError, resolve_precision

TEXTS = ["short", "a somewhat longer passage about fleas and their hosts", "mid length text here", "x " * 40]


def test_embeddings_are_unit_norm_and_in_input_order(tiny_encoder):
    batched = tiny_encoder.encode(TEXTS, "passage", show_progress=False)
    assert batched.shape == (4, 32) and batched.dtype == np.float32
    assert np.allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)
    one_by_one = np.stack([tiny_encoder.encode([t], "passage", show_progress=False)[0] for t in TEXTS])
    assert np.allclose(batched, one_by_one, atol=1e-5)  # length sorting + padding changed nothing


def test_mean_pooling_ignores_padding(tiny_encoder):
    batch = tiny_encoder.tokenize(["short", "a much longer text with many more tokens"], "passage")
    with torch.no_grad():
        padded = tiny_encoder(**batch)[0]
        alone = tiny_encoder(**tiny_encoder.tokenize(["short"], "passage"))[0]
    assert torch.allclose(padded, alone, atol=1e-5)


def test_cls_pooling_differs_from_mean(tiny_model_dir):
    mean = BiEncoder.from_pretrained(str(tiny_model_dir), pooling="mean", device="cpu")
    cls = BiEncoder.from_pretrained(str(tiny_model_dir), pooling="cls", device="cpu")
    a, b = mean.encode(TEXTS[:2], show_progress=False), cls.encode(TEXTS[:2], show_progress=False)
    assert not np.allclose(a, b)


def test_prompts_only_on_their_side(tiny_model_dir):
    e5 = BiEncoder.from_pretrained(str(tiny_model_dir), query_prompt="query: ", passage_prompt="passage: ")
    plain = BiEncoder.from_pretrained(str(tiny_model_dir))
    assert (
        e5.tokenizer.decode(e5.tokenize(["fleas"], "query")["input_ids"][0], skip_special_tokens=True)
        == "query : fleas"
    )
    q, p = e5.encode(["fleas"], "query", False), e5.encode(["fleas"], "passage", False)
    assert not np.allclose(q, p)
    assert np.allclose(plain.encode(["fleas"], "query", False), plain.encode(["fleas"], "passage", False))


def test_fingerprint_tracks_weights(tiny_encoder):
    before = tiny_encoder.fingerprint
    tiny_encoder.encode(TEXTS, show_progress=False)  # tokenizing sets truncation/padding state
    assert tiny_encoder.fingerprint == before
    with torch.no_grad():
        tiny_encoder.model.embeddings.word_embeddings.weight[0, 0] += 1
    assert tiny_encoder.fingerprint != before


def test_fingerprint_tracks_the_tokenizer_though_its_identity_is_kept(tiny_encoder, tiny_model_dir):
    from transformers import AutoTokenizer

    before = tiny_encoder.fingerprint
    tiny_encoder.tokenizer.add_tokens(["zzqqxx"])  # a new token: a new vocabulary size
    grown = tiny_encoder.fingerprint
    assert grown != before
    other = AutoTokenizer.from_pretrained(str(tiny_model_dir))  # the same vocabulary in another object
    tiny_encoder.tokenizer = other
    assert tiny_encoder.fingerprint == before
    other.add_tokens(["zzqqxx"])
    assert tiny_encoder.fingerprint == grown


def test_precision_auto_detects_instead_of_assuming(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(encoder_module, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    assert resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", cpu)


def test_bf16_encoding_stays_close_to_fp32(tiny_model_dir):
    fp32 = BiEncoder.from_pretrained(str(tiny_model_dir), precision="fp32")
    bf16 = BiEncoder.from_pretrained(str(tiny_model_dir), precision="bf16")
    a, b = fp32.encode(TEXTS, show_progress=False), bf16.encode(TEXTS, show_progress=False)
    assert b.dtype == np.float32
    assert np.min(np.sum(a * b, axis=1)) > 0.98  # cosine between the two precisions


def test_hub_name_offline_fails_fast_with_one_clear_line():
    with pytest.raises(EncoderLoadError, match=r"cannot load model 'intfloat/e5-small-v2': not a local folder"):
        BiEncoder.from_pretrained("intfloat/e5-small-v2")


@pytest.mark.parametrize(
    "name,pooling,query_prompt,passage_prompt",
    [
        ("minilm", "mean", "", ""),
        ("bge_small", "cls", "Represent this sentence for searching relevant passages: ", ""),
        ("bge_base", "cls", "Represent this sentence for searching relevant passages: ", ""),
        ("e5_small", "mean", "query: ", "passage: "),
        ("e5_base", "mean", "query: ", "passage: "),
    ],
)
def test_encoder_configs_build_with_their_prompts_and_pooling(
    tiny_model_dir, name, pooling, query_prompt, passage_prompt
):
    """The hub configs' code paths (prompts, pooling) run offline on a tiny random BERT."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"encoder={name}"])
    assert cfg.encoder.name_or_path.endswith("model") if name == "minilm" else "/" in cfg.encoder.name_or_path
    cfg.encoder.name_or_path = str(tiny_model_dir)
    enc = instantiate(cfg.encoder)
    assert (enc.pooling, enc.prompts) == (pooling, {"query": query_prompt, "passage": passage_prompt})
    assert enc.encode(["a query"], "query", show_progress=False).shape == (1, 32)
