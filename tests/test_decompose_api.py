"""eoslab.decompose, the adapter for a user's nn.Sequential, the monitor and `eoslab decompose` (issue 25).

The reference is an independent dense computation on a tiny network: per-sample parameter
Jacobians ∂f/∂θ and ∂f/∂θⁱ (torch.func.jacrev), the symmetric root of H_z l from torch.func.hessian
of the per-sample loss, dense Hessian of the mean loss (torch.func.hessian over all parameters),
G = E JᵀH_zJ, the layerwise Jacobians ∂x̂^{i+1}/∂x̂ⁱ and ∂f/∂x̂ⁱ by jacrev of the network's pieces,
then the paper's definitions (Eqs. 2–7) with numpy-free torch.linalg.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

import eoslab
from eoslab.adapters import UnsupportedModel, layer_stack
from eoslab.network import UnsupportedCriterion

ROOT = Path(__file__).resolve().parents[1]


def tiny_network(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3, bias=False), nn.GELU(),
                        nn.Linear(3, 6), nn.ELU(), nn.Linear(6, 4))
    return net.to(dtype)


def tiny_data(n=7, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=dtype), torch.randint(0, 4, (n,), generator=g)


def per_sample_loss(name):
    if name == "cross_entropy":
        return lambda z, y: torch.nn.functional.cross_entropy(z.unsqueeze(0), y.unsqueeze(0))
    return lambda z, y: (z - torch.nn.functional.one_hot(y, z.shape[-1]).to(z.dtype)).pow(2).mean()


def lam1(M):
    return float(torch.linalg.eigvalsh(0.5 * (M + M.T).detach())[-1])


def dense_reference(net, X, y, criterion_name, scale=1.0):
    """Every metric of the table from dense matrices (see the module docstring)."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    acts = [m for m in net if not isinstance(m, nn.Linear)]
    L = len(linears)
    names = [n for n, _ in net.named_parameters()]
    params = {n: p.detach() for n, p in net.named_parameters()}
    layer_of = {}
    for i, lin in enumerate(linears):
        for pn, p in net.named_parameters():
            if any(p is q for q in lin.parameters()):
                layer_of[pn] = i
    loss1 = per_sample_loss(criterion_name)

    def f(p, x):
        return functional_call(net, p, (x.unsqueeze(0),)).squeeze(0)

    N = X.shape[0]
    # mean loss and its dense Hessian over all parameters
    sizes = [params[n].numel() for n in names]

    def mean_loss(theta):
        p = {n: t.view(params[n].shape) for n, t in zip(names, torch.split(theta, sizes))}
        z = functional_call(net, p, (X,))
        return scale * torch.stack([loss1(z[k], y[k]) for k in range(N)]).mean()

    theta = torch.cat([params[n].reshape(-1) for n in names])
    Hfull = hessian(mean_loss)(theta)
    grad = torch.func.grad(mean_loss)(theta)
    G = torch.zeros_like(Hfull)
    K2 = []
    Kl2 = [[] for _ in range(L)]
    J2 = [[] for _ in range(L - 1)]
    DJ2 = [[] for _ in range(L - 1)]
    chi2 = [[] for _ in range(L - 1)]

    def tail(i, h):  # x̂^{i+1} (0-based i: pre-activation of linears[i]) → f
        for j in range(i, L - 1):
            h = linears[j + 1](acts[j](h))
        return h

    for k in range(N):
        x, t = X[k], y[k]
        z = f(params, x)
        Hz = scale * hessian(lambda zz: loss1(zz, t))(z)
        w, V = torch.linalg.eigh(Hz)
        R = V @ torch.diag(w.clamp_min(0).sqrt()) @ V.T          # symmetric root, RᵀR = H_z l
        jac = jacrev(f)(params, x)                                  # {name: (O, *shape)}
        Jtheta = torch.cat([jac[n].reshape(z.shape[0], -1) for n in names], dim=1)
        G += Jtheta.T @ Hz @ Jtheta / N
        K = R @ Jtheta
        K2.append(lam1(K @ K.T))
        for i in range(L):
            cols = torch.cat([jac[n].reshape(z.shape[0], -1) for n in names if layer_of[n] == i], dim=1)
            Ki = R @ cols
            Kl2[i].append(lam1(Ki @ Ki.T))
        # forward pieces
        xs, pres = [x], []
        h = x
        for i in range(L):
            pre = linears[i](h)
            pres.append(pre)
            if i < L - 1:
                h = acts[i](pre)
                xs.append(h)
        a = [float(xs[i].detach().square().sum()) + (1.0 if linears[i].bias is not None else 0.0) for i in range(L)]
        for i in range(L - 1):
            M = jacrev(lambda hh: linears[i + 1](acts[i](hh)))(pres[i])             # ∂x̂^{i+2}/∂x̂^{i+1}
            J2[i].append(lam1(M.T @ M))
            Jnext = jacrev(lambda hh: tail(i + 1, hh))(pres[i + 1])               # ∂f/∂x̂^{i+2}
            D = math.sqrt(a[i + 1]) * R @ Jnext @ M                                # Δ^{i+1} M_i
            DJ2[i].append(lam1(D @ D.T))
            chi2[i].append(a[i] / a[i + 1])
    mean = lambda v: float(np.mean(v))  # noqa: E731
    EK2_layer = [mean(v) for v in Kl2]
    EJ2, EDJ2, Echi2 = [mean(v) for v in J2], [mean(v) for v in DJ2], [mean(v) for v in chi2]
    r_DeltaJ = [EDJ2[i] / (EK2_layer[i + 1] * EJ2[i]) for i in range(L - 1)]
    r_chi = [EK2_layer[i] / (Echi2[i] * EDJ2[i]) for i in range(L - 1)]

    def suffix(v):
        return [float(np.prod(v[k:])) for k in range(len(v))]

    out = {("loss", None): float(mean_loss(theta).detach()), ("grad_norm", None): float(grad.norm()),
           ("sharpness_hessian", None): lam1(Hfull), ("sharpness_G", None): lam1(G),
           ("sharpness_H", None): lam1(Hfull - G), ("EK2", None): mean(K2), ("EDeltaL2", None): EK2_layer[-1]}
    out[("rho_K", None)] = out[("sharpness_G", None)] / out[("EK2", None)]
    for i in range(L):
        out[("EK2_layer", i + 1)] = EK2_layer[i]
    for name, values in (("chi2", Echi2), ("EJ2", EJ2), ("r_DeltaJ", r_DeltaJ), ("r_chi", r_chi),
                         ("Pi_chi", suffix(Echi2)), ("P_chi", suffix(r_chi)), ("Pi_J", suffix(EJ2)),
                         ("P_DeltaJ", suffix(r_DeltaJ))):
        for i, v in enumerate(values):
            out[(name, i + 1)] = v
    return out


def as_dict(table):
    return {(m, None if pd.isna(layer) else int(layer)): v for m, layer, v in table.itertuples(index=False)}


@pytest.mark.parametrize("criterion", ["cross_entropy", "mse"])
def test_decompose_matches_dense_computation(criterion, device):
    """On ``pytest --device cuda`` the network lives on the GPU (the data follow it); the reference is on the CPU."""
    net = tiny_network()
    X, y = tiny_data()
    loss = nn.CrossEntropyLoss() if criterion == "cross_entropy" else nn.MSELoss()
    table = eoslab.decompose(copy.deepcopy(net).to(device), X, y, criterion=loss, chunk_size=3)   # chunked
    assert list(table.columns) == ["metric", "layer", "value"]
    got, want = as_dict(table), dense_reference(net, X, y, criterion)
    assert set(want) <= set(got)
    assert set(got) - set(want) == {("accuracy", None)}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_sum_reduction_scales_the_curvature_and_keeps_the_ratios():
    net = tiny_network()
    X, y = tiny_data()
    mean = as_dict(eoslab.decompose(net, X, y, criterion=nn.MSELoss()))
    summed_table = eoslab.decompose(net, X, y, criterion=nn.MSELoss(reduction="sum"))
    c = X.shape[0] * 4  # N·O
    assert summed_table.attrs["loss_scale"] == c
    summed = as_dict(summed_table)
    want = dense_reference(net, X, y, "mse", scale=c)
    for key in ("sharpness_hessian", "EK2", "loss"):
        assert summed[(key, None)] == pytest.approx(want[(key, None)], rel=1e-9)
    for key, value in mean.items():
        scaled = key[0] in ("loss", "grad_norm", "sharpness_hessian", "sharpness_G", "sharpness_H", "EK2",
                            "EK2_layer", "EDeltaL2")
        assert summed[key] == pytest.approx(value * (c if scaled else 1), rel=1e-8, abs=1e-12), key


def test_project_mlp_and_its_sequential_twin_agree():
    from eoslab.models import build_model

    mlp = build_model({"input_dim": 4, "output_dim": 3, "depth": 3, "width": 6, "init_seed": 2})
    twin = nn.Sequential(mlp.linears[0], nn.ELU(), mlp.linears[1], nn.ELU(), mlp.linears[2])
    X, y = tiny_data(n=5)
    y = y % 3
    a, b = as_dict(eoslab.decompose(mlp, X, y)), as_dict(eoslab.decompose(twin, X, y))
    for key in a:
        assert b[key] == pytest.approx(a[key], rel=1e-12, abs=1e-15), key


def test_float32_network_runs_in_float32():
    net = tiny_network(dtype=torch.float32)
    X, y = tiny_data(dtype=torch.float64)   # the data follow the model's dtype
    got = as_dict(eoslab.decompose(net, X, y))
    want = dense_reference(tiny_network(dtype=torch.float64), X, y, "cross_entropy")
    assert got[("EK2", None)] == pytest.approx(want[("EK2", None)], rel=1e-4)
    assert got[("P_DeltaJ", 1)] == pytest.approx(want[("P_DeltaJ", 1)], rel=1e-4)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(5, 5)

    def forward(self, x):
        return x + self.inner(x)


@pytest.mark.parametrize("network, pattern", [
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.Conv1d(1, 1, 1), nn.Linear(5, 3)), r"module '1' \(Conv1d\): a convolution"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)),
     r"module '1' \(BatchNorm1d\): a normalisation layer"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5), nn.Linear(5, 3)), r"'1' \(LayerNorm\): a normalisation"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 3)).train(),
     r"module '2' \(Dropout\): dropout in train mode .*model.eval\(\)"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.Softmax(dim=-1), nn.Linear(5, 3)), r"'1' \(Softmax\): not elementwise"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.PReLU(), nn.Linear(5, 3)), r"'1' \(PReLU\): an activation with trainable"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Softmax(dim=-1)), r"'3' \(Softmax\)"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid()),
     r"'3' \(Sigmoid\): an activation after the last nn.Linear"),
    (lambda: nn.Sequential(nn.Linear(4, 5), Residual(), nn.Linear(5, 3)), r"module '1' \(Residual\): .*residual wiring"),
    (lambda: Residual(), r"the model \(Residual\): decompose needs an nn.Sequential"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.Sequential(nn.ReLU(), nn.GroupNorm(1, 5)), nn.Linear(5, 3)),
     r"module '1.1' \(GroupNorm\)"),
])
def test_refusals_name_the_module_and_the_reason(network, pattern):
    with pytest.raises(UnsupportedModel, match=pattern):
        eoslab.decompose(network().double(), *tiny_data())


def test_what_the_adapter_accepts():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.Dropout(0.3), nn.LeakyReLU(0.1), nn.SiLU(),
                        nn.Sequential(nn.Linear(5, 7, bias=False), nn.Sigmoid()), nn.Identity(), nn.Linear(7, 2)).eval()
    stack = layer_stack(net)
    assert stack.depth == 3 and stack.widths == [4, 5, 7, 2] and stack.names == ["1", "5.0", "7"]
    assert [stack.has_bias(i) for i in (1, 2, 3)] == [True, False, True]
    x = torch.randn(3, 5)
    expected = torch.nn.functional.silu(torch.nn.functional.leaky_relu(x, 0.1))
    assert torch.equal(stack.activations[0](x), expected)


def test_criterion_refusals():
    net, (X, y) = tiny_network(), tiny_data()
    with pytest.raises(UnsupportedCriterion, match="class weights"):
        eoslab.decompose(net, X, y, nn.CrossEntropyLoss(weight=torch.ones(4, dtype=torch.float64)))
    with pytest.raises(UnsupportedCriterion, match="reduction='none'"):
        eoslab.decompose(net, X, y, nn.CrossEntropyLoss(reduction="none"))
    with pytest.raises(UnsupportedCriterion, match="NLLLoss is not supported"):
        eoslab.decompose(net, X, y, nn.NLLLoss())
    with pytest.raises(UnsupportedCriterion, match="labels must lie in 0..3"):
        eoslab.decompose(net, X, y + 4)


def test_monitor_in_an_sgd_loop_writes_a_table_the_figures_draw(tmp_path):
    from eoslab.studies.jacobian_alignment.analysis import COLUMNS
    from eoslab.studies.jacobian_alignment.figures import render_figure

    net = tiny_network()
    X, y = tiny_data(n=12)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2)
    monitor = eoslab.SharpnessMonitor(net, X, y, criterion, out=tmp_path / "run.parquet", every=3,
                                      optimizer=optimizer, name="toy")
    for step in range(7):
        monitor(step)
        optimizer.zero_grad()
        criterion(net(X[step % 4 * 3:][:3]), y[step % 4 * 3:][:3]).backward()   # mini-batches of 3
        optimizer.step()
    monitor(7, force=True)
    table = pd.read_parquet(tmp_path / "run.parquet")
    assert list(table.columns) == COLUMNS + ["step", "lr", "two_over_lr"]
    assert sorted(table["step"].unique()) == [0, 3, 6, 7]
    assert (table["iteration"] == table["step"]).all()
    by_step = table.groupby("step")["t"].first()
    assert by_step.to_dict() == pytest.approx({0: 0.0, 3: 0.6, 6: 1.2, 7: 1.4})
    assert np.allclose(table["two_over_lr"], 10.0)
    # the monitor measured the weights as decompose does
    last = table[table["step"] == 7]
    direct = as_dict(eoslab.decompose(net, X, y, criterion))
    assert float(last.loc[last["metric"] == "EK2", "value"].iloc[0]) == pytest.approx(direct[("EK2", None)], rel=1e-9)
    paths = render_figure("06", table, tmp_path / "fig06_toy", dataset="toy", criterion="cross_entropy")
    paths += render_figure("39", table, tmp_path / "fig39_toy", dataset="toy", criterion="cross_entropy")
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    from eoslab.monitor import analysis_table

    assert list(analysis_table(table).columns) == COLUMNS


def test_cli_decompose_saved_module_and_state_dict(tmp_path, capsys):
    from eoslab.cli import main

    net = nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 3, bias=False), nn.ReLU(), nn.Linear(3, 4)).double()
    X, y = tiny_data()
    np.savez(tmp_path / "data.npz", X=X.numpy(), y=y.numpy())
    torch.save(net, tmp_path / "net.pt")
    assert main(["decompose", str(tmp_path / "net.pt"), str(tmp_path / "data.npz"), "--out",
                 str(tmp_path / "a.parquet")]) == 0
    torch.save(net.state_dict(), tmp_path / "state.pt")
    (tmp_path / "arch.yaml").write_text("widths: [4, 5, 3, 4]\nactivation: [gelu, relu]\nbias: [true, false, true]\n"
                                        "dtype: float64\n")
    assert main(["decompose", str(tmp_path / "state.pt"), str(tmp_path / "data.npz"), "--arch",
                 str(tmp_path / "arch.yaml"), "--out", str(tmp_path / "b.csv")]) == 0
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_csv(tmp_path / "b.csv")
    assert np.allclose(a["value"].to_numpy(), b["value"].to_numpy(), rtol=1e-12, equal_nan=True)
    assert as_dict(a)[("EK2", None)] == pytest.approx(as_dict(eoslab.decompose(net, X, y))[("EK2", None)], rel=1e-12)
    # a network it cannot decompose: exit status 2 and the module named
    torch.save(nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5), nn.Linear(5, 4)).double(), tmp_path / "bad.pt")
    assert main(["decompose", str(tmp_path / "bad.pt"), str(tmp_path / "data.npz"), "--out",
                 str(tmp_path / "c.parquet")]) == 2
    assert "module '1' (LayerNorm)" in capsys.readouterr().err
    assert main(["decompose", str(tmp_path / "state.pt"), str(tmp_path / "data.npz"), "--out",
                 str(tmp_path / "d.parquet")]) == 2
    assert "pass --arch" in capsys.readouterr().err


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Analyse your own network", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = readme_example()
    assert len(code.strip().splitlines()) <= 16
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    table = namespace["table"]
    assert {"sharpness_hessian", "EK2", "rho_K", "P_DeltaJ"} <= set(table["metric"])
    assert (tmp_path / "monitor.parquet").exists()
