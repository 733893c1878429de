"""Read a user's PyTorch network as the layer list the decomposition of Eqs. 3–8 needs.

The layerwise decomposition (:mod:`eoslab.decomposition`) needs, for ``L`` linear layers,
every weight ``Aⁱ`` (and bias ``bⁱ``, if any) in the order the data flow through them, and
between layers ``i`` and ``i+1`` one **elementwise** activation ``σᵢ`` (its Jacobian
``diag(σᵢ′(x̂ⁱ))`` is what makes ``Mᵢ = A^{i+1} diag(σᵢ′(x̂ⁱ))``).  :func:`layer_stack` gives
that list, :class:`LayerStack`, for

* the project's :class:`eoslab.models.MLP` (its ``linears`` and its one activation: the same
  modules, called the same way, so its results are unchanged to the bit), and
* any ``nn.Sequential`` (nested ones are flattened) of ``nn.Linear`` layers — unequal
  widths, with or without biases — and elementwise activations (:data:`ELEMENTWISE`:
  ELU, ReLU, LeakyReLU, tanh, sigmoid, GELU, SiLU, Softplus, …).  Several activations
  between two linear layers compose into one elementwise map; none is the identity.
  ``nn.Identity``, ``nn.Flatten`` before the first linear layer (on ``(N, D)`` data it changes
  nothing) and ``nn.Dropout`` in eval mode (or with ``p = 0``) are skipped.

Anything else is refused with :class:`UnsupportedModel`, whose message names the module (its
path in the network) and the reason: convolutions (not a dense ``Aⁱ``), normalisation layers
(couple samples or units and carry parameters outside ``nn.Linear``), dropout in train mode
(random: ``model.eval()`` first), non-elementwise maps (softmax, …), activations with
parameters (PReLU: parameters the layerwise ``Kⁱ`` do not cover), a final activation after
the last linear layer (the network's output must be ``f = x̂ᴸ``; fold it into the criterion),
and any module with its own ``forward`` (residual wiring, attention, custom blocks: the layer
order cannot be read from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

#: Activation modules whose output entry ``k`` depends only on input entry ``k`` (and that hold no parameters).
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ELU, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus,
    nn.CELU, nn.SELU, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.LogSigmoid, nn.Softsign, nn.Tanhshrink,
    nn.Softshrink, nn.Hardshrink, nn.Threshold,
)

#: Why some common modules cannot be decomposed (the message's reason), by class name.
_REASONS = {
    "conv": "a convolution: its weight is not a dense layer matrix Aⁱ acting on the whole input (the "
            "decomposition covers MLPs: nn.Linear layers and elementwise activations)",
    "norm": "a normalisation layer: it couples samples or units (its Jacobian is not diagonal) and has "
            "parameters outside nn.Linear",
    "dropout": "dropout in train mode is random; call model.eval() first (in eval mode it is the identity)",
    "softmax": "not elementwise: each output depends on every unit of the layer, so ∂x^i/∂x̂^i is not diagonal",
    "prelu": "an activation with trainable parameters, which the layerwise Kⁱ (weights and biases of "
             "nn.Linear layers) do not cover",
    "pool": "pooling is not elementwise and changes the shape (not an MLP layer)",
    "recurrent": "a recurrent/attention block, not an MLP layer",
    "embedding": "an embedding lookup, not a dense layer on real inputs",
}


def _reason_for(module: nn.Module) -> str:
    name = type(module).__name__.lower()
    if "conv" in name:
        return _REASONS["conv"]
    if "norm" in name:
        return _REASONS["norm"]
    if "dropout" in name:
        return _REASONS["dropout"]
    if "softmax" in name or "softmin" in name or name == "glu":
        return _REASONS["softmax"]
    if "prelu" in name or "rrelu" in name:
        return _REASONS["prelu"] if "prelu" in name else "random in train mode (RReLU); not a fixed elementwise map"
    if "pool" in name:
        return _REASONS["pool"]
    if any(k in name for k in ("rnn", "lstm", "gru", "attention", "transformer")):
        return _REASONS["recurrent"]
    if "embedding" in name:
        return _REASONS["embedding"]
    return ("not a module the decomposition knows (it needs nn.Linear layers and elementwise activations "
            "in an nn.Sequential; a module with its own forward — residual wiring, attention, a custom "
            "block — hides the layer order)")


class UnsupportedModel(ValueError):
    """The network cannot be decomposed; the message names the module and the reason."""


@dataclass
class LayerStack:
    """``L`` linear layers and the ``L − 1`` elementwise activations between them."""

    linears: list[nn.Linear]
    activations: list[Callable[[torch.Tensor], torch.Tensor]]
    names: list[str]  # each linear layer's path in the model, e.g. "0", "linears.3"

    def __post_init__(self):
        if len(self.activations) != len(self.linears) - 1:
            raise ValueError(f"{len(self.linears)} linear layers need {len(self.linears) - 1} activations, "
                             f"got {len(self.activations)}")

    @property
    def depth(self) -> int:
        """``L``, the number of linear layers."""
        return len(self.linears)

    def has_bias(self, layer: int) -> bool:
        """Whether layer ``i`` (1-based) has a bias ``bⁱ``."""
        return self.linears[layer - 1].bias is not None

    @property
    def widths(self) -> list[int]:
        return [self.linears[0].in_features] + [linear.out_features for linear in self.linears]


def _compose(functions: list[Callable]) -> Callable:
    if not functions:
        return _identity
    if len(functions) == 1:
        return functions[0]

    def composed(x):
        for f in functions:
            x = f(x)
        return x
    return composed


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _flatten_sequential(model: nn.Sequential, prefix: str = "") -> list[tuple[str, nn.Module]]:
    out = []
    for name, module in model.named_children():
        path = f"{prefix}{name}"
        if type(module) is nn.Sequential:
            out += _flatten_sequential(module, path + ".")
        elif isinstance(module, nn.Sequential):
            raise UnsupportedModel(f"module {path!r} ({type(module).__name__}) subclasses nn.Sequential with its own "
                                   f"forward, so the layer order cannot be read from it")
        else:
            out.append((path, module))
    return out


def _refuse(path: str, module: nn.Module, reason: str | None = None) -> UnsupportedModel:
    return UnsupportedModel(f"cannot decompose module {path!r} ({type(module).__name__}): "
                            f"{reason or _reason_for(module)}")


def layer_stack(model: nn.Module) -> LayerStack:
    """The :class:`LayerStack` of ``model`` (see the module docstring), or :class:`UnsupportedModel`."""
    from .models import MLP

    if isinstance(model, LayerStack):
        return model
    if type(model) is MLP:
        return LayerStack(list(model.linears), [model.activation] * (model.depth - 1),
                          [f"linears.{i}" for i in range(model.depth)])
    if type(model) is not nn.Sequential:
        if isinstance(model, nn.Sequential):
            raise UnsupportedModel(f"cannot decompose the model ({type(model).__name__}): it subclasses "
                                   f"nn.Sequential with its own forward, so the layer order cannot be read from it")
        raise UnsupportedModel(
            f"cannot decompose the model ({type(model).__name__}): decompose needs an nn.Sequential of nn.Linear "
            f"layers and elementwise activations (or an eoslab.models.MLP); a module with its own forward "
            f"(residual wiring, a custom block) hides the layer order. Rebuild it as nn.Sequential if it is an MLP")
    linears: list[nn.Linear] = []
    names: list[str] = []
    activations: list[Callable] = []
    pending: list[Callable] = []      # activations since the last linear layer
    pending_paths: list[str] = []
    for path, module in _flatten_sequential(model):
        if type(module) is nn.Linear:
            if linears:
                activations.append(_compose(pending))
            elif pending:
                raise _refuse(pending_paths[0], model.get_submodule(pending_paths[0]),
                              "an activation before the first nn.Linear layer acts on the data, not on a "
                              "pre-activation x̂ⁱ; apply it to X instead")
            pending, pending_paths = [], []
            linears.append(module)
            names.append(path)
        elif type(module) in ELEMENTWISE and not list(module.parameters()):
            pending.append(module)
            pending_paths.append(path)
        elif type(module) is nn.Identity:
            continue
        elif type(module) is nn.Flatten:
            if linears:
                raise _refuse(path, module, "nn.Flatten between linear layers is not an elementwise activation")
            continue  # on (N, D) inputs it changes nothing
        elif isinstance(module, (nn.Dropout, nn.AlphaDropout)) and type(module) in (nn.Dropout, nn.AlphaDropout):
            if module.training and module.p > 0:
                raise _refuse(path, module)
            continue
        elif isinstance(module, nn.Linear):  # a subclass of nn.Linear (e.g. NonDynamicallyQuantizableLinear, LoRA)
            raise _refuse(path, module, "a subclass of nn.Linear with its own forward; only nn.Linear itself is "
                                        "read as x̂ = A x + b")
        else:
            raise _refuse(path, module)
    if not linears:
        raise UnsupportedModel("cannot decompose the model: it has no nn.Linear layer")
    if pending:
        raise _refuse(pending_paths[-1], model.get_submodule(pending_paths[-1]),
                      "an activation after the last nn.Linear layer: the network's output must be the last "
                      "layer's pre-activation f = x̂ᴸ (Section 2.1); fold the final map into the criterion "
                      "(e.g. CrossEntropyLoss on logits, not on softmax outputs)")
    for (previous, a), (path, b) in zip(zip(names, linears), zip(names[1:], linears[1:])):
        if a.out_features != b.in_features:
            raise UnsupportedModel(f"cannot decompose the model: layer {previous!r} has {a.out_features} outputs "
                                   f"but layer {path!r} expects {b.in_features} inputs")
    stack = LayerStack(linears, activations, names)
    covered = {id(p) for linear in linears for p in linear.parameters()}
    stray = [name for name, p in model.named_parameters() if id(p) not in covered]
    if stray:  # cannot happen with the modules admitted above; guards a future whitelist entry
        raise UnsupportedModel(f"cannot decompose the model: parameters {stray} lie outside its nn.Linear layers")
    return stack


#: Activation names of an architecture spec (:func:`sequential_from_spec`).
ACTIVATION_NAMES: dict[str, type[nn.Module]] = {
    "elu": nn.ELU, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU, "silu": nn.SiLU, "softplus": nn.Softplus, "mish": nn.Mish, "selu": nn.SELU, "celu": nn.CELU,
    "identity": nn.Identity, "linear": nn.Identity,
}


def sequential_from_spec(spec: dict) -> nn.Sequential:
    """An ``nn.Sequential`` MLP from a plain spec, to load a state dict into (``eoslab decompose --arch``)::

        {"widths": [n0, n1, ..., nL], "activation": "gelu" | [one name per hidden layer],
         "bias": true | [one per linear layer], "dtype": "float32" | "float64"}

    Modules alternate ``Linear, activation, Linear, …, Linear`` (indices 0, 1, 2, … as in a state dict
    saved from such a ``nn.Sequential``).
    """
    unknown = set(spec) - {"widths", "activation", "bias", "dtype"}
    if unknown:
        raise ValueError(f"unknown architecture spec keys {sorted(unknown)}; expected widths, activation, bias, dtype")
    widths = spec.get("widths")
    if not isinstance(widths, list) or len(widths) < 2 or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"architecture spec 'widths' must list at least two positive integers, got {widths!r}")
    L = len(widths) - 1
    activation = spec.get("activation", "elu")
    activations = [activation] * (L - 1) if isinstance(activation, str) else list(activation)
    if len(activations) != L - 1:
        raise ValueError(f"architecture spec 'activation' must be one name or {L - 1} names, got {activation!r}")
    for name in activations:
        if name not in ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATION_NAMES))}")
    bias = spec.get("bias", True)
    biases = [bool(bias)] * L if isinstance(bias, bool) else [bool(b) for b in bias]
    if len(biases) != L:
        raise ValueError(f"architecture spec 'bias' must be true/false or {L} values, got {bias!r}")
    dtype = {"float32": torch.float32, "float64": torch.float64}.get(spec.get("dtype", "float32"))
    if dtype is None:
        raise ValueError(f"architecture spec 'dtype' must be float32 or float64, got {spec.get('dtype')!r}")
    modules: list[nn.Module] = []
    for i in range(L):
        modules.append(nn.Linear(widths[i], widths[i + 1], bias=biases[i]))
        if i < L - 1:
            modules.append(ACTIVATION_NAMES[activations[i]]())
    return nn.Sequential(*modules).to(dtype)
