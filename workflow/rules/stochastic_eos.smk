# stochastic_eos (Agarwala & Pennington 2024): the rules (settings and helpers in
# stochastic_eos_common.smk).  Every job is a CPU job (resources.*.gpu = 0 by default).
if "stochastic_eos" in config:

    rule stochastic_eos_linear:
        output:
            sweep=f"{SEOS_ROOT}/linear/{{setting}}.parquet",
            trajectories=f"{SEOS_ROOT}/linear/{{setting}}_trajectories.parquet",
        wildcard_constraints:
            setting="flat|dispersed|localised",
        params:
            flags=cli_flags({k: v for k, v in SEOS_LINEAR.items() if k != "settings"}),
        threads: seos_resource("theory", "threads")
        resources:
            gpu=seos_resource("theory", "gpu"),
            runtime=seos_resource("theory", "runtime"),
            mem_mb=seos_resource("theory", "mem_mb"),
        log:
            f"{SEOS_ROOT}/logs/linear/{{setting}}.log",
        benchmark:
            f"{SEOS_ROOT}/benchmarks/linear/{{setting}}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study stochastic_eos linear --setting {wildcards.setting} {params.flags}"
            " --out {output.sweep} --trajectories {output.trajectories} > {log} 2>&1"

    rule stochastic_eos_localisation:
        output:
            f"{SEOS_ROOT}/linear/localisation/s{{scale}}.parquet",
        wildcard_constraints:
            scale=r"[0-9.eE+-]+",
        params:
            flags=cli_flags({k: (",".join(map(str, v)) if k == "seeds" else v)
                             for k, v in SEOS_LOCAL.items() if k != "scales"}),
        threads: seos_resource("theory", "threads")
        resources:
            gpu=seos_resource("theory", "gpu"),
            runtime=seos_resource("theory", "runtime"),
            mem_mb=seos_resource("theory", "mem_mb"),
        log:
            f"{SEOS_ROOT}/logs/linear/localisation_s{{scale}}.log",
        benchmark:
            f"{SEOS_ROOT}/benchmarks/linear/localisation_s{{scale}}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study stochastic_eos localisation --scale {wildcards.scale} {params.flags}"
            " --out {output} > {log} 2>&1"

    rule stochastic_eos_quadratic:
        output:
            f"{SEOS_ROOT}/quadratic/{{shape}}.parquet",
        wildcard_constraints:
            shape="flat|shaped",
        params:
            flags=cli_flags({k: (",".join(map(str, v)) if k == "batch_sizes" else v)
                             for k, v in SEOS_QUADRATIC.items() if k != "shapes"}),
        threads: seos_resource("theory", "threads")
        resources:
            gpu=seos_resource("theory", "gpu"),
            runtime=seos_resource("theory", "runtime"),
            mem_mb=seos_resource("theory", "mem_mb"),
        log:
            f"{SEOS_ROOT}/logs/quadratic/{{shape}}.log",
        benchmark:
            f"{SEOS_ROOT}/benchmarks/quadratic/{{shape}}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study stochastic_eos quadratic --shape {wildcards.shape} {params.flags}"
            " --out {output} > {log} 2>&1"

    rule stochastic_eos_mnist_data:
        output:
            data=f"{SEOS_ROOT}/mlp/data.npz",
            card=f"{SEOS_ROOT}/mlp/data.json",
        params:
            flags=cli_flags({k: SEOS_MLP[k] for k in ("source", "root", "download", "num_examples",
                                                     "zca_regularization")}),
        log:
            f"{SEOS_ROOT}/logs/mnist_data.log",
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos mnist-data {params.flags} --out {output.data} > {log} 2>&1"

    # The declared output is a copy of the run's status.json written when the run ended (finished
    # or diverged: a diverged run is a result of the sweep, not a failure).
    rule stochastic_eos_mlp_train:
        input:
            f"{SEOS_ROOT}/mlp/data.npz",
        output:
            f"{SEOS_ROOT}/mlp/runs/{SEOS_RUN}/finished.json",
        wildcard_constraints:
            **SEOS_RUN_WILDCARDS,
        params:
            run=lambda w: f"{SEOS_ROOT}/mlp/runs/b{w.batch}_lr{w.lr}_s{w.seed}",
            steps=seos_run_steps,
            flags=cli_flags({k: SEOS_MLP[k] for k in ("width", "activation", "measurements")}),
        threads: seos_resource("train", "threads")
        resources:
            gpu=seos_resource("train", "gpu"),
            runtime=seos_resource("train", "runtime"),
            mem_mb=seos_resource("train", "mem_mb"),
        log:
            f"{SEOS_ROOT}/logs/mlp/{SEOS_RUN}.log",
        benchmark:
            f"{SEOS_ROOT}/benchmarks/mlp/{SEOS_RUN}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study stochastic_eos mlp-train --data {input} --batch-size {wildcards.batch}"
            " --lr {wildcards.lr} --steps {params.steps} --init-seed {wildcards.seed} --batch-seed {wildcards.seed}"
            " {params.flags} --out {params.run} --finished {output} > {log} 2>&1"

    # The rise runs of Figure 3: same training command, the rise section's gain and length.
    rule stochastic_eos_mlp_rise:
        input:
            f"{SEOS_ROOT}/mlp/data.npz",
        output:
            f"{SEOS_ROOT}/mlp/rise/{SEOS_RUN}/finished.json",
        wildcard_constraints:
            **SEOS_RUN_WILDCARDS,
        params:
            run=lambda w: f"{SEOS_ROOT}/mlp/rise/b{w.batch}_lr{w.lr}_s{w.seed}",
            steps=seos_rise_steps,
            flags=cli_flags({**{k: SEOS_MLP[k] for k in ("width", "activation")},
                             **{k: SEOS_RISE[k] for k in ("gain", "measurements")}}),
        threads: seos_resource("train", "threads")
        resources:
            gpu=seos_resource("train", "gpu"),
            runtime=seos_resource("train", "runtime"),
            mem_mb=seos_resource("train", "mem_mb"),
        log:
            f"{SEOS_ROOT}/logs/mlp/rise_{SEOS_RUN}.log",
        benchmark:
            f"{SEOS_ROOT}/benchmarks/mlp/rise_{SEOS_RUN}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study stochastic_eos mlp-train --data {input} --batch-size {wildcards.batch}"
            " --lr {wildcards.lr} --steps {params.steps} --init-seed {wildcards.seed} --batch-seed {wildcards.seed}"
            " {params.flags} --out {params.run} --finished {output} > {log} 2>&1"

    rule stochastic_eos_rise_collect:
        input:
            SEOS_RISE_FILES,
        output:
            SEOS_RISE_TABLE,
        params:
            runs=[str(Path(f).parent) for f in SEOS_RISE_FILES],
        log:
            f"{SEOS_ROOT}/logs/rise_collect.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos collect {params.runs} --out {output} > {log} 2>&1"

    rule stochastic_eos_mlp_collect:
        input:
            SEOS_RUN_FILES,
        output:
            SEOS_RUNS_TABLE,
        params:
            runs=[str(Path(f).parent) for f in SEOS_RUN_FILES],
        log:
            f"{SEOS_ROOT}/logs/mlp_collect.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos collect {params.runs} --out {output} > {log} 2>&1"

    rule stochastic_eos_figure:
        input:
            unpack(seos_figure_inputs),
        output:
            pdf=report(f"{SEOS_ROOT}/figures/fig{{nn}}.pdf", caption="../report/stochastic_eos/figure.rst",
                       category="stochastic_eos"),
            png=f"{SEOS_ROOT}/figures/fig{{nn}}.png",
        wildcard_constraints:
            nn="|".join(SEOS_FIGURES),
        params:
            caption=lambda w: SEOS_CAPTIONS[w.nn],
            flags=seos_figure_flags,
            out=lambda w, output: output.pdf.removesuffix(".pdf"),
        log:
            f"{SEOS_ROOT}/logs/figures/fig{{nn}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos figure {wildcards.nn} {params.flags} --out {params.out} > {log} 2>&1"

    rule stochastic_eos_table:
        input:
            linear=SEOS_LINEAR_FILES,
            localisation=SEOS_LOCAL_FILES,
            mlp=SEOS_RUNS_TABLE,
        output:
            csv=report(f"{SEOS_ROOT}/tables/thresholds.csv", caption="../report/stochastic_eos/table.rst",
                       category="stochastic_eos"),
            md=f"{SEOS_ROOT}/tables/thresholds.md",
        params:
            large=min(SEOS_MLP["large_batch"]["batch_sizes"], default=10**9),
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{SEOS_ROOT}/logs/table.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos table --linear {input.linear} --mlp {input.mlp}"
            " --localisation {input.localisation} --large-batch-min {params.large} --out {params.out} > {log} 2>&1"

    rule stochastic_eos_outcomes:
        input:
            mlp=SEOS_RUNS_TABLE,
            rise=SEOS_RISE_TABLE,
        output:
            csv=report(f"{SEOS_ROOT}/tables/mlp_runs.csv", caption="../report/stochastic_eos/outcomes.rst",
                       category="stochastic_eos"),
            md=f"{SEOS_ROOT}/tables/mlp_runs.md",
        params:
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{SEOS_ROOT}/logs/outcomes.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos outcomes {input.mlp} {input.rise} --out {params.out} > {log} 2>&1"

    rule stochastic_eos_claims:
        input:
            linear=SEOS_LINEAR_FILES,
            localisation=SEOS_LOCAL_FILES,
            mlp=SEOS_RUNS_TABLE,
            rise=SEOS_RISE_TABLE,
        output:
            csv=report(f"{SEOS_ROOT}/tables/claims.csv", caption="../report/stochastic_eos/claims.rst",
                       category="stochastic_eos"),
            md=f"{SEOS_ROOT}/tables/claims.md",
        params:
            large=min(SEOS_MLP["large_batch"]["batch_sizes"], default=10**9),
            small=",".join(map(str, SEOS_MLP["small_batch"]["batch_sizes"])) or "1",
            source=config_source(),
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{SEOS_ROOT}/logs/claims.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab --threads 1 study stochastic_eos claims --linear {input.linear} --localisation {input.localisation}"
            " --mlp {input.mlp} --rise {input.rise} --small-batch-sizes {params.small}"
            " --large-batch-min {params.large} --config {params.source:q} --out {params.out} > {log} 2>&1"

    STUDY_TARGETS["stochastic_eos"] = [
        *[f"{SEOS_ROOT}/figures/fig{nn}.{ext}" for nn in SEOS_FIGURES for ext in ("pdf", "png")],
        *[f"{SEOS_ROOT}/tables/{name}.{ext}" for name in ("thresholds", "mlp_runs", "claims") for ext in ("csv", "md")],
    ]
