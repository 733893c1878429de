# jacobian_alignment, gradient-descent variant: the run list, paths and flags that
# jacobian_alignment_gd.smk's rules use (config key jacobian_alignment.gradient_descent; absent: nothing).
if "jacobian_alignment" in config and JA.get("gradient_descent"):
    import math

    JA_GD = JA["gradient_descent"]
    JA_GD_RUN = "{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}_lr{lr}"
    JA_GD_WILDCARDS = {**JA_WILDCARDS, "lr": r"[0-9.e+-]+"}

    def ja_gd_lr_text(lr):
        return f"{float(lr):g}"

    def ja_gd_runs():
        return [dict(e, lr=ja_gd_lr_text(lr)) for e in ja_experiments() for lr in JA_GD["lrs"]]

    def ja_gd_run_dir(w):
        return f"{JA_ROOT}/gd/runs/{JA_GD_RUN.format(**w)}"

    def ja_gd_analysis_path(w):
        return f"{JA_ROOT}/gd/analysis/{JA_GD_RUN.format(**w)}.parquet"

    def ja_gd_training_flags(w):
        """The flow's model and training settings, with gradient descent at step size η = w.lr and the
        iteration counts of the config's times (t = η · iteration)."""
        lr = float(w.lr)
        t, m = JA["training"], JA["model"]
        values = {**m, **{k: t[k] for k in ("eig_tol", "eig_method", "chunk_size", "checkpoint_every")},
                  "integrator": "gradient_descent", "lr": w.lr,
                  "loss_threshold": t["loss_thresholds"][w.criterion],
                  "max_iterations": math.ceil(JA_GD["t_max"] / lr - 1e-9),
                  "snapshot_every": max(1, round(JA_GD["snapshot_dt"] / lr)),
                  "eig_every": max(1, round(JA_GD["eig_dt"] / lr)),
                  "num_eigenpairs": 1, "lambda_min_every": 0}
        return cli_flags(values)
