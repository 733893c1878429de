# layerwise_sharpness (thesis 004): the run paths, inputs and flags shared by the rules in
# layerwise_sharpness.smk (lint: rules and functions live in separate files).
# Every output lives under LS_ROOT = {RESULTS}/layerwise_sharpness:
#
#   LS_ROOT/runs/trajectory/{run}.parquet|json   Chapter 3: one gradient-descent run (rule ls_trajectory)
#   LS_ROOT/runs/maxstep/{point}.parquet|json    Chapter 4: Algorithm 2 at one point (rule ls_maxstep)
#   LS_ROOT/data/cifar10/pool.npz|json           the CIFAR-10 pool (rule ls_cifar10_pool; paper config only)
#   LS_ROOT/figures/fig_3_1.pdf|png …             one file target per thesis figure (rule ls_figure)
#   LS_ROOT/tables/table_4_1.csv|md …            Tables 4.1 and 4.2 beside the thesis's values (rule ls_table)
#   LS_ROOT/tables/claims.csv|md                 the thesis's statements judged (rule ls_claims, eoslab.verdicts)
#
# Which runs a figure or table shows is eoslab.studies.layerwise_sharpness.catalog (no torch import),
# so asking for one figure builds only its runs.
if "layerwise_sharpness" in config:
    import shlex

    from eoslab.studies.layerwise_sharpness import catalog as ls_catalog  # noqa: E402

    LS = study_config("layerwise_sharpness")
    LS_ROOT = f"{RESULTS}/layerwise_sharpness"
    LS_POOL = f"{LS_ROOT}/data/cifar10/pool.npz"
    LS_FIGURE_NAMES = "|".join(ls_catalog.FIGURE_ORDER)

    def ls_trajectory_path(run):
        return f"{LS_ROOT}/runs/trajectory/{run.key}.parquet"

    def ls_maxstep_path(point):
        return f"{LS_ROOT}/runs/maxstep/{point.key}.parquet"

    def ls_needs_cifar10(what):
        if not ls_catalog.cifar10_enabled(LS):
            raise WorkflowError(f"{what} needs CIFAR-10, which this config ({config_source()}) leaves out "
                                f"(layerwise_sharpness.cifar10.enabled: false); use --configfile "
                                f"config/paper/layerwise_sharpness.yaml")

    def ls_figure_inputs(w):
        spec = ls_catalog.FIGURES[w.name]
        if not ls_catalog.figure_available(w.name, LS):
            ls_needs_cifar10(spec.label)
        if spec.kind == "maxstep":
            return [ls_maxstep_path(p) for p in ls_catalog.figure_points(w.name, LS)]
        return [ls_trajectory_path(r) for r in ls_catalog.figure_runs(w.name, LS)]

    def ls_claims_inputs():
        """Every synthetic-data run of the figures and tables this config builds (the claims read them)."""
        runs, points = {}, {}
        for name in ls_catalog.selected_figures(LS):
            spec = ls_catalog.FIGURES[name]
            if spec.kind == "maxstep":
                points.update({p.key: p for p in ls_catalog.figure_points(name, LS) if p.dataset == "synthetic"})
            else:
                runs.update({r.key: r for r in ls_catalog.figure_runs(name, LS) if r.dataset == "synthetic"})
        for name in ls_catalog.selected_tables(LS):
            points.update({p.key: p for p in ls_catalog.table_points(name, LS)})
        return {"trajectories": [ls_trajectory_path(r) for _, r in sorted(runs.items())],
                "maxstep": [ls_maxstep_path(p) for _, p in sorted(points.items())]}

    def ls_subcategory(name):
        return "Appendix A" if name.startswith("fig_a") else f"Chapter {name.split('_')[1]}"

    def ls_pool_input(kind):
        def pool(w):
            dataset = (ls_catalog.TrajectoryRun.parse(w.run) if kind == "trajectory"
                       else ls_catalog.MaxStepPoint.parse(w.point)).dataset
            if dataset != "cifar10":
                return []
            ls_needs_cifar10(f"The {kind} {w.run if kind == 'trajectory' else w.point}")
            return [LS_POOL]
        return pool

    def ls_trajectory_flags(w):
        t = LS["trajectory"]
        values = {k: t[k] for k in ("samples", "iterations", "data_seed", "init_seed", "eig_tol", "eig_method")}
        values.update({f"armijo_{k}": v for k, v in t["armijo"].items()})
        flags = cli_flags(values) + (" --measure-all" if t["measure_all"] else "")
        if ls_catalog.TrajectoryRun.parse(w.run).dataset == "cifar10":
            flags += f" --cifar10-pool {LS_POOL}"
        return flags

    def ls_maxstep_flags(w):
        m = LS["maxstep"]
        point = ls_catalog.MaxStepPoint.parse(w.point)
        if point.dataset == "cifar10":
            eta0 = m["eta0"]["cifar10_full_batch"]
        else:
            eta0 = m["eta0"]["synthetic_full_batch" if point.batch_size is None else "synthetic_minibatch"]
        values = {k: m[k] for k in ("runs", "iterations", "horizon", "beta", "dtype", "data_seed", "seed", "block",
                                    "synthetic_dim")}
        values["eta0"] = eta0
        flags = cli_flags(values)
        if point.dataset == "cifar10":
            flags += f" --cifar10-pool {LS_POOL}"
        return flags

    def ls_table_settings(w):
        m = LS["maxstep"]
        eta0 = m["eta0"]["synthetic_full_batch" if w.name == "table_4_1" else "synthetic_minibatch"]
        batch = "full batch" if w.name == "table_4_1" else f"batch size {m['batch_size']}"
        settings = {"R": m["runs"], "T": f"{m['iterations']} {m['horizon']}", "beta": m["beta"], "eta0": eta0,
                    "batch": batch, "dtype": m["dtype"]}
        return " ".join(f"--setting '{k}={v}'" for k, v in settings.items())

    def ls_resource(kind, name):
        return LS["resources"][kind][name]
