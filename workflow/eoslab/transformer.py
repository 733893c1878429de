"""The character-level decoder-only transformer of Long & Bartlett (2023), §3.1.

The paper trained the transformer of the Haiku example (``examples/transformer``) with dropout
removed: 6 layers, 8 heads, key size 32, model size 128, sequence length 64.  This is the same
network in PyTorch, read from that example's structure:

* token embedding plus a learned positional embedding (both truncated-normal, σ = 0.02, as
  Haiku's ``TruncatedNormal(0.02)``: a standard normal truncated to ``[−2, 2]`` times σ);
* ``num_layers`` pre-norm residual blocks ``h ← h + MHA(LN(h))``, ``h ← h + MLP(LN(h))``, where
  the attention projects the model size to ``num_heads × key_size`` queries, keys and values
  (``8 × 32 = 256`` here, *not* the model size), scores ``q·k / √key_size`` with a causal mask,
  and projects the ``num_heads × key_size`` result back to the model size; the MLP is
  ``Linear(4·model_size) → GELU (tanh form, JAX's default) → Linear(model_size)``;
* a final layer normalisation and a linear read-out to the vocabulary (no weight tying);
* layer normalisations over the model dimension with scale and offset, ``ε = 1e-5`` (Haiku's);
* the weights of the attention and MLP projections drawn as Haiku's
  ``VarianceScaling(2 / num_layers)`` (fan-in mode, truncated normal rescaled to variance
  ``(2 / num_layers) / fan_in``), the read-out as ``hk.Linear``'s default (truncated normal,
  σ = 1/√fan_in), every bias zero, layer-norm scales one and offsets zero.

Inputs are integer token ids ``(N, T)`` with ``T ≤ seq_len``; the output is the logits
``(N, T, vocab_size)`` of the next token at every position (score with
:class:`eoslab.criteria.SequenceCrossEntropy`).  Attention is written out with einsum rather
than a fused kernel so that the curvature operators can differentiate it twice under ``vmap``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .models import DTYPES, TRUNCATED_NORMAL_STD

TRANSFORMER_DEFAULTS: dict[str, Any] = {
    "architecture": "transformer",
    "vocab_size": 128,
    "seq_len": 64,
    "num_layers": 6,
    "num_heads": 8,
    "key_size": 32,
    "model_size": 128,
    "widening_factor": 4,
    "layer_norm_eps": 1e-5,
    "init_seed": 0,
    "dtype": "float64",
}

#: Masked attention logits (Haiku's value; exp underflows to exactly 0 in float32 and float64).
MASKED_LOGIT = -1e30


class CausalSelfAttention(nn.Module):
    """Multi-head attention of a sequence on its own past (Haiku's ``MultiHeadAttention``)."""

    def __init__(self, model_size: int, num_heads: int, key_size: int):
        super().__init__()
        self.num_heads, self.key_size = num_heads, key_size
        self.query = nn.Linear(model_size, num_heads * key_size)
        self.key = nn.Linear(model_size, num_heads * key_size)
        self.value = nn.Linear(model_size, num_heads * key_size)
        self.output = nn.Linear(num_heads * key_size, model_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        heads = (n, t, self.num_heads, self.key_size)
        q, k, v = self.query(x).view(heads), self.key(x).view(heads), self.value(x).view(heads)
        logits = torch.einsum("nthd,nshd->nhts", q, k) / math.sqrt(self.key_size)
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        logits = torch.where(causal, logits, torch.full_like(logits, MASKED_LOGIT))
        attended = torch.einsum("nhts,nshd->nthd", torch.softmax(logits, dim=-1), v)
        return self.output(attended.reshape(n, t, self.num_heads * self.key_size))


class Block(nn.Module):
    """One pre-norm residual block: attention, then the MLP."""

    def __init__(self, model_size: int, num_heads: int, key_size: int, widening_factor: int, eps: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(model_size, eps=eps)
        self.attention = CausalSelfAttention(model_size, num_heads, key_size)
        self.mlp_norm = nn.LayerNorm(model_size, eps=eps)
        self.mlp_in = nn.Linear(model_size, widening_factor * model_size)
        self.mlp_out = nn.Linear(widening_factor * model_size, model_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attention(self.attention_norm(h))
        return h + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(h)), approximate="tanh"))


class CharTransformer(nn.Module):
    """Decoder-only language model: embeddings → blocks → LayerNorm → read-out (logits per position)."""

    def __init__(self, vocab_size: int, seq_len: int, num_layers: int, num_heads: int, key_size: int,
                 model_size: int, widening_factor: int, layer_norm_eps: float):
        super().__init__()
        self.seq_len = seq_len
        self.token_embedding = nn.Embedding(vocab_size, model_size)
        self.position_embedding = nn.Parameter(torch.zeros(seq_len, model_size))
        self.blocks = nn.ModuleList(Block(model_size, num_heads, key_size, widening_factor, layer_norm_eps)
                                    for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(model_size, eps=layer_norm_eps)
        self.readout = nn.Linear(model_size, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.shape[1] > self.seq_len:
            raise ValueError(f"expected token ids of shape (N, T) with T <= {self.seq_len}, got {tuple(tokens.shape)}")
        h = self.token_embedding(tokens) + self.position_embedding[: tokens.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.readout(self.final_norm(h))


def _truncated_normal_(weight: torch.Tensor, std: float, generator: torch.Generator) -> None:
    """Haiku's ``TruncatedNormal(std)``: a standard normal truncated to [−2, 2], times ``std``."""
    values = torch.empty(weight.shape, dtype=torch.float64)
    torch.nn.init.trunc_normal_(values, 0.0, 1.0, -2.0, 2.0, generator=generator)
    weight.copy_(values * std)


def resolve_transformer_config(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every key checked (the dict stored with runs)."""
    unknown = set(config) - set(TRANSFORMER_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown transformer config keys {sorted(unknown)}; expected a subset of "
                         f"{sorted(TRANSFORMER_DEFAULTS)}")
    resolved = {**TRANSFORMER_DEFAULTS, **config}
    if resolved["architecture"] != "transformer":
        raise ValueError(f"transformer config 'architecture' must be 'transformer', got {resolved['architecture']!r}")
    for key in ("vocab_size", "seq_len", "num_layers", "num_heads", "key_size", "model_size", "widening_factor",
                "init_seed"):
        value = resolved[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "init_seed" else 1):
            raise ValueError(f"transformer config '{key}' must be a {'non-negative' if key == 'init_seed' else 'positive'}"
                             f" integer, got {value!r}")
    if resolved["dtype"] not in DTYPES:
        raise ValueError(f"transformer config 'dtype' must be one of {sorted(DTYPES)}, got {resolved['dtype']!r}")
    resolved["layer_norm_eps"] = float(resolved["layer_norm_eps"])
    return resolved


def build_transformer(config: dict[str, Any], device: str | torch.device = "cpu") -> CharTransformer:
    """The network of ``config`` (see :data:`TRANSFORMER_DEFAULTS`), initialised from ``init_seed``."""
    cfg = resolve_transformer_config(config)
    model = CharTransformer(cfg["vocab_size"], cfg["seq_len"], cfg["num_layers"], cfg["num_heads"], cfg["key_size"],
                            cfg["model_size"], cfg["widening_factor"], cfg["layer_norm_eps"]).to(torch.float64)
    generator = torch.Generator().manual_seed(cfg["init_seed"])
    scale = 2.0 / cfg["num_layers"]  # Haiku's VarianceScaling(2 / num_layers), fan-in, truncated normal
    with torch.no_grad():
        _truncated_normal_(model.token_embedding.weight, 0.02, generator)
        _truncated_normal_(model.position_embedding, 0.02, generator)
        for block in model.blocks:
            attention = block.attention
            for linear in (attention.query, attention.key, attention.value, attention.output,
                           block.mlp_in, block.mlp_out):
                _truncated_normal_(linear.weight, math.sqrt(scale / linear.weight.shape[1]) / TRUNCATED_NORMAL_STD,
                                   generator)
                linear.bias.zero_()
        _truncated_normal_(model.readout.weight, 1.0 / math.sqrt(model.readout.weight.shape[1]), generator)
        model.readout.bias.zero_()
    return model.to(device=device, dtype=DTYPES[cfg["dtype"]])
