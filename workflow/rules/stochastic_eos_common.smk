# stochastic_eos (Agarwala & Pennington 2024): settings, run list, inputs and captions used by the
# rules in stochastic_eos.smk.  Outputs under {results}/stochastic_eos/:
#
#   linear/{setting}.parquet (+ _trajectories)   ← stochastic_eos_linear     (theory + Monte-Carlo SGD)
#   linear/localisation/s{σ}.parquet              ← stochastic_eos_localisation (App. A.4 failure case)
#   quadratic/{shape}.parquet                     ← stochastic_eos_quadratic  (conservative sharpening)
#   mlp/data.npz                                  ← stochastic_eos_mnist_data (first N images, ZCA, ±1)
#   mlp/runs/b{B}_lr{η}_s{seed}/finished.json     ← stochastic_eos_mlp_train  (one SGD run, exact K̃)
#   mlp/runs.parquet                              ← stochastic_eos_mlp_collect
#   mlp/rise/b{B}_lr{η}_s{seed}/finished.json     ← stochastic_eos_mlp_rise   (Figure 3: K̃ from below 1)
#   mlp/rise.parquet                              ← stochastic_eos_rise_collect
#   figures/fig{NN}.{pdf,png}, NN ∈ 01–05, 07–10, A4 ← stochastic_eos_figure
#   tables/thresholds.{csv,md}                    ← stochastic_eos_table
#   tables/mlp_runs.{csv,md}                      ← stochastic_eos_outcomes   (per MLP run)
#   tables/claims.{csv,md}                        ← stochastic_eos_claims     (eoslab.verdicts format)
#
# Every job is a CPU job (resources.*.gpu = 0 by default): the MLP of §4.1 is small enough.
import math

if "stochastic_eos" in config:

    SEOS = study_config("stochastic_eos")
    SEOS_ROOT = f"{RESULTS}/stochastic_eos"
    SEOS_LINEAR = SEOS["linear"]
    SEOS_QUADRATIC = SEOS["quadratic"]
    SEOS_MLP = SEOS["mlp"]
    SEOS_LOCAL = SEOS["localisation"]
    SEOS_RISE = SEOS_MLP["rise"]
    SEOS_FIGURES = ["01", "02", "03", "04", "05", "07", "08", "09", "10", "A4"]
    SEOS_CAPTIONS = {
        "01": "Figure 1. Linear model with a flat (i.i.d. Gaussian) Jacobian: Monte-Carlo SGD loss over steps for "
              "several η; λ_max(𝒯), K̃ and ηλ_max/2 against η with the η at which the Monte-Carlo loss diverges; "
              "loss after T steps against K̃ (divergence where K̃ crosses 1).",
        "02": "Figure 2. Quadratic regression model, same η for every batch size: λ_max(Θ̂) over SGD steps (seed "
              "means) for flat and shaped model curvature; small batches sharpen faster at first and then slower "
              "(conservative sharpening).",
        "03": "Figure 3. MLP at a small batch size, started with K̃ < 1 (small initialisation): training loss and "
              "K̃ over epochs for several η/B and seeds (line style).",
        "04": "Figure 4. MLP: final λ_max(Θ̂) against η (with the EOS value 2/η) and against η/B.",
        "05": "Figure 5. MLP at small batch sizes: final K̃ against η/B, final loss against final K̃ and against "
              "final ηλ_max.",
        "07": "Figure 7. Linear model, flat / dispersed / localised Jacobians: λ_max(𝒯), K̃, K̃_HD, K̃_tr and "
              "ηλ_max/2 against η; the dotted line is where Monte-Carlo SGD diverges.",
        "08": "Figure 8. Linear model: Monte-Carlo loss after T steps against K̃, K̃_HD and K̃_tr for the three "
              "Jacobians.",
        "09": "Figure 9. Quadratic regression model: first and second discrete derivatives of λ̂ at the start "
              "against batch size (first derivative with the t = 0 theory).",
        "10": "Figure 10. MLP: the trace estimator K̃_tr against the exact K̃ at every measurement.",
        "A4": "Appendix A.4's failure case. Linear model with J = √D[diag(v)|0] + G over the localisation σ_loc: "
              "K̃, K̃_HD and K̃_tr at the Monte-Carlo divergence boundary (left); Monte-Carlo loss after T steps "
              "against K̃ (right).",
    }

    def seos_resource(kind, key):
        return SEOS["resources"][kind][key]

    def seos_lr_key(lr):
        return f"{lr:.6g}"

    def seos_mlp_runs():
        """(batch size, η key, seed) -> steps, for every MLP run of the config."""
        small, large = SEOS_MLP["small_batch"], SEOS_MLP["large_batch"]
        both = set(small["batch_sizes"]) & set(large["batch_sizes"])
        if both:
            raise WorkflowError(f"stochastic_eos.mlp: batch sizes {sorted(both)} are in both small_batch and "
                                f"large_batch; give each batch size once")
        too_big = [b for b in [*small["batch_sizes"], *large["batch_sizes"]] if b > SEOS_MLP["num_examples"]]
        if too_big:
            raise WorkflowError(f"stochastic_eos.mlp: batch sizes {too_big} exceed num_examples = "
                                f"{SEOS_MLP['num_examples']}")
        runs = {}
        for seed in SEOS_MLP["init_seeds"]:
            for b in small["batch_sizes"]:
                steps = max(1, math.ceil(small["epochs"] * SEOS_MLP["num_examples"] / b))
                for ratio in small["lr_over_batch"]:
                    runs[(b, seos_lr_key(ratio * b), seed)] = steps
            for b in large["batch_sizes"]:
                for lr in large["lrs"]:
                    runs[(b, seos_lr_key(lr), seed)] = large["steps"]
        return runs

    SEOS_RUNS = seos_mlp_runs()

    def seos_rise_runs():
        """(batch size, η key, seed) -> steps, for the rise runs (Figure 3)."""
        b = SEOS_RISE["batch_size"]
        if b > SEOS_MLP["num_examples"]:
            raise WorkflowError(f"stochastic_eos.mlp.rise: batch size {b} exceeds num_examples = "
                                f"{SEOS_MLP['num_examples']}")
        steps = max(1, math.ceil(SEOS_RISE["epochs"] * SEOS_MLP["num_examples"] / b))
        return {(b, seos_lr_key(ratio * b), seed): steps
                for seed in SEOS_RISE["seeds"] for ratio in SEOS_RISE["lr_over_batch"]}

    SEOS_RISE_RUNS = seos_rise_runs()

    def seos_scale_key(scale):
        return f"{float(scale):g}"

    SEOS_LOCAL_FILES = [f"{SEOS_ROOT}/linear/localisation/s{seos_scale_key(s)}.parquet" for s in SEOS_LOCAL["scales"]]
    SEOS_RUN = "b{batch}_lr{lr}_s{seed}"
    SEOS_RUN_WILDCARDS = {"batch": r"[0-9]+", "lr": r"[0-9.eE+-]+", "seed": r"[0-9]+"}

    def seos_run_steps(wildcards):
        key = (int(wildcards.batch), wildcards.lr, int(wildcards.seed))
        if key not in SEOS_RUNS:
            raise WorkflowError(f"stochastic_eos: no MLP run b{key[0]}_lr{key[1]}_s{key[2]} in {config_source()}")
        return SEOS_RUNS[key]

    SEOS_RUN_FILES = [f"{SEOS_ROOT}/mlp/runs/b{b}_lr{lr}_s{s}/finished.json" for (b, lr, s) in sorted(SEOS_RUNS)]
    SEOS_LINEAR_FILES = [f"{SEOS_ROOT}/linear/{s}.parquet" for s in SEOS_LINEAR["settings"]]
    SEOS_TRAJECTORY_FILE = (f"{SEOS_ROOT}/linear/"
                            f"{'flat' if 'flat' in SEOS_LINEAR['settings'] else SEOS_LINEAR['settings'][0]}"
                            f"_trajectories.parquet")
    SEOS_QUADRATIC_FILES = [f"{SEOS_ROOT}/quadratic/{s}.parquet" for s in SEOS_QUADRATIC["shapes"]]
    SEOS_RUNS_TABLE = f"{SEOS_ROOT}/mlp/runs.parquet"
    SEOS_RISE_FILES = [f"{SEOS_ROOT}/mlp/rise/b{b}_lr{lr}_s{s}/finished.json" for (b, lr, s) in sorted(SEOS_RISE_RUNS)]
    SEOS_RISE_TABLE = f"{SEOS_ROOT}/mlp/rise.parquet"

    def seos_rise_steps(wildcards):
        key = (int(wildcards.batch), wildcards.lr, int(wildcards.seed))
        if key not in SEOS_RISE_RUNS:
            raise WorkflowError(f"stochastic_eos: no rise run b{key[0]}_lr{key[1]}_s{key[2]} in {config_source()}")
        return SEOS_RISE_RUNS[key]

    def seos_figure_inputs(wildcards):
        if wildcards.nn == "01":
            return {"linear": SEOS_LINEAR_FILES, "trajectories": [SEOS_TRAJECTORY_FILE]}
        if wildcards.nn in ("07", "08"):
            return {"linear": SEOS_LINEAR_FILES}
        if wildcards.nn in ("02", "09"):
            return {"quadratic": SEOS_QUADRATIC_FILES}
        if wildcards.nn == "A4":
            return {"localisation": SEOS_LOCAL_FILES}
        if wildcards.nn == "03":
            return {"mlp": SEOS_RISE_TABLE}
        return {"mlp": SEOS_RUNS_TABLE}

    def seos_figure_flags(wildcards, input):
        flags = []
        for key in ("linear", "trajectories", "quadratic", "localisation"):
            if key in input.keys():
                flags.append(f"--{key} " + " ".join(getattr(input, key)))
        if "mlp" in input.keys():
            flags.append(f"--mlp {input.mlp}")
            if SEOS_MLP["small_batch"]["batch_sizes"]:
                flags.append("--small-batch-sizes " + ",".join(map(str, SEOS_MLP["small_batch"]["batch_sizes"])))
            if wildcards.nn == "03":
                flags.append(f"--batch-size {SEOS_RISE['batch_size']}")
        return " ".join(flags)
