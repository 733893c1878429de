"""eoslab.transformer (the character model), its sequence criterion and curvature on it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from eoslab.criteria import SequenceCrossEntropy
from eoslab.curvature import GaussNewtonOperator, HessianOperator, ParameterSpace
from eoslab.eigensolvers import top_eigenpairs
from eoslab.models import TRUNCATED_NORMAL_STD
from eoslab.transformer import build_transformer

TINY = {"vocab_size": 11, "seq_len": 5, "num_layers": 2, "num_heads": 2, "key_size": 3, "model_size": 4}


def test_paper_architecture_sizes():
    model = build_transformer({})
    assert len(model.blocks) == 6 and model.blocks[0].attention.num_heads == 8
    assert model.blocks[0].attention.query.weight.shape == (8 * 32, 128)      # key size 32 per head
    assert model.blocks[0].mlp_in.weight.shape == (4 * 128, 128)
    assert model.position_embedding.shape == (64, 128) and model.readout.weight.shape == (128, 128)
    logits = model(torch.randint(0, 128, (2, 64)))
    assert logits.shape == (2, 64, 128) and logits.dtype == torch.float64


@torch.no_grad()
def test_haiku_initialisation_scales():
    model = build_transformer({"num_layers": 4, "model_size": 256})
    w = model.blocks[0].mlp_in.weight.detach()                                          # VarianceScaling(2/L), fan-in
    assert float(w.var()) == pytest.approx((2 / 4) / 256, rel=0.03)
    embedding = model.token_embedding.weight.detach()                                   # TruncatedNormal(0.02)
    assert float(embedding.abs().max()) <= 0.04 and float(embedding.std()) == pytest.approx(0.02 * TRUNCATED_NORMAL_STD,
                                                                                             rel=0.05)
    assert all(float(b.abs().max()) == 0 for name, b in model.named_parameters() if name.endswith("bias")
               and "norm" not in name)


@torch.no_grad()
def test_the_model_is_causal():
    model = build_transformer(TINY)
    tokens = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 3] = (changed[:, 3] + 1) % 11
    a, b = model(tokens), model(changed)
    torch.testing.assert_close(a[:, :3], b[:, :3], rtol=0, atol=0)              # the past does not see the future
    assert (a[:, 3:] - b[:, 3:]).abs().max() > 1e-6
    with pytest.raises(ValueError, match="T <= 5"):
        model(torch.zeros(1, 6, dtype=torch.long))


def test_sequence_cross_entropy_is_the_mean_over_positions():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 5, 11, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 11, (4, 5), generator=gen)
    criterion = SequenceCrossEntropy()
    per_sample = criterion.loss(z, y)
    expected = torch.stack([F.cross_entropy(z[n], y[n]) for n in range(4)])
    torch.testing.assert_close(per_sample, expected)
    # Dense output Hessian = autograd's, and the closed-form product and square root agree with it.
    dense = torch.autograd.functional.hessian(lambda zz: criterion.loss(zz.reshape(1, 5, 11), y[:1]).sum(),
                                              z[0].reshape(-1))
    Hz = criterion.output_hessian(z, y)
    torch.testing.assert_close(Hz[0], dense, rtol=1e-12, atol=1e-14)
    u = torch.randn(4, 5, 11, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(criterion.output_hessian_matmul(z, y, u).reshape(4, -1),
                               torch.einsum("nij,nj->ni", Hz, u.reshape(4, -1)), rtol=1e-12, atol=1e-14)
    R = criterion.output_hessian_sqrt(z, y)
    torch.testing.assert_close(R.transpose(1, 2) @ R, Hz, rtol=1e-12, atol=1e-14)
    accuracy = criterion.accuracy(z, y)
    assert accuracy.shape == (4,) and torch.equal(accuracy, (z.argmax(-1) == y).double().mean(-1))
    with pytest.raises(ValueError, match=r"\(N, T, V\)"):
        criterion.loss(z[:, 0], y[:, 0])


def test_hessian_products_of_the_transformer_match_dense_autograd():
    """Attention, layer norm, embeddings and GELU under the operators' vmap; the criterion's
    per-sample loss is the mean over positions and the inputs are integer token ids."""
    model = build_transformer(TINY)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, dtype=p.dtype, generator=gen))
    X = torch.randint(0, 11, (6, 5), generator=gen)
    y = torch.randint(0, 11, (6, 5), generator=gen)
    criterion = SequenceCrossEntropy()
    space = ParameterSpace(model)
    theta = space.flatten(space.values(model))

    def loss(t):
        return criterion.loss(functional_call(model, space.unflatten(t), (X,)), y).mean()

    H = torch.autograd.functional.hessian(loss, theta)
    operator = HessianOperator(model, criterion, X, y, chunk_size=4)
    assert operator.dtype == torch.float64                               # the parameters', not the token ids'
    V = torch.randn(H.shape[0], 4, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(operator.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    grad = operator.loss_and_gradient()
    torch.testing.assert_close(grad.gradient, torch.func.grad(loss)(theta), rtol=1e-12, atol=1e-14)
    assert 0 <= grad.accuracy <= 1
    top = top_eigenpairs(operator, 2, tol=1e-10, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(top.eigenvalues, torch.linalg.eigvalsh(H).flip(0)[:2], rtol=1e-8, atol=1e-10)
    G = GaussNewtonOperator(model, criterion, X, y).matmat(V)
    assert G.shape == V.shape and torch.isfinite(G).all()


def test_transformer_config_errors_name_the_key():
    with pytest.raises(ValueError, match="num_heads"):
        build_transformer({"num_heads": 0})
    with pytest.raises(ValueError, match="unknown"):
        build_transformer({"dropout": 0.1})
    assert math.isclose(build_transformer(TINY).blocks[0].attention_norm.eps, 1e-5)
