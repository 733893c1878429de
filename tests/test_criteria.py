import pytest
import torch

from eoslab.criteria import CrossEntropy, MeanSquaredError, get_criterion

from conftest import CRITERION_NAMES


def _z_and_y(seed=0, n=6, o=4):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, o, dtype=torch.float64, generator=gen) * 2, torch.randint(0, o, (n,), generator=gen)


@pytest.mark.parametrize("name", CRITERION_NAMES)
def test_output_hessian_matches_autograd(name):
    criterion = get_criterion(name)
    z, y = _z_and_y()
    for n in range(z.shape[0]):
        dense = torch.autograd.functional.hessian(lambda zn: criterion.loss(zn[None], y[n:n + 1])[0], z[n])
        torch.testing.assert_close(criterion.output_hessian(z, y)[n], dense, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", CRITERION_NAMES)
def test_square_root_and_products(name):
    criterion = get_criterion(name)
    z, y = _z_and_y(1)
    H = criterion.output_hessian(z, y)
    R = criterion.output_hessian_sqrt(z, y)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, H, rtol=1e-12, atol=1e-14)
    u = torch.randn(3, *z.shape, dtype=torch.float64)
    torch.testing.assert_close(criterion.output_hessian_matmul(z, y, u), torch.einsum("noq,knq->kno", H, u))


def test_operator_norms_do_not_depend_on_the_root():
    """‖RM‖_max is the same for our R and the symmetric PSD root (eigendecomposition)."""
    criterion = CrossEntropy()
    z, y = _z_and_y(2)
    H = criterion.output_hessian(z, y)
    evals, evecs = torch.linalg.eigh(H)
    symmetric_root = evecs @ torch.diag_embed(evals.clamp_min(0).sqrt()) @ evecs.transpose(-1, -2)
    R = criterion.output_hessian_sqrt(z, y)
    assert not torch.allclose(R, symmetric_root)  # a genuinely different root
    M = torch.randn(z.shape[0], z.shape[1], 7, dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.matrix_norm(R @ M, ord=2),
                               torch.linalg.matrix_norm(symmetric_root @ M, ord=2), rtol=1e-10, atol=1e-12)


def test_mse_is_mean_over_outputs_like_torch():
    z, y = _z_and_y(3)
    target = torch.nn.functional.one_hot(y, z.shape[1]).to(z.dtype)
    expected = torch.nn.functional.mse_loss(z, target, reduction="none").mean(dim=1)
    torch.testing.assert_close(MeanSquaredError().loss(z, y), expected)


def test_unknown_criterion_is_named():
    with pytest.raises(ValueError, match="hinge"):
        get_criterion("hinge")
