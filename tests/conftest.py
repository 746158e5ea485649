"""Shared fixtures: one tiny model for the whole session, built offline."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny qwen2_5_vl checkpoint made by init-model (random weights, own tokenizer)."""
    from gui_grpo.modeling.build import init_model

    out = tmp_path_factory.mktemp("tiny-qwen2_5_vl")
    init_model(out, family="qwen2_5_vl", size="tiny", seed=0)
    return str(out)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest single-threaded, and the test machine's cores are shared: modules that
    sample a lot use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
