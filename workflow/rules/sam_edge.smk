# sam_edge (Long & Bartlett 2023, "Sharpness-Aware Minimization and the Edge of Stability").
#
#   R/data/{experiment}.npz (+ .json)                       <- sam_edge_data     (one per experiment)
#   R/runs/{experiment}/lr{lr}_rho{rho}/finished.json       <- sam_edge_train    (GPU; one per η × ρ)
#   R/aggregate/{experiment}.parquet                        <- sam_edge_aggregate
#   R/figures/figNN.{pdf,png}, NN = 01 … 16                 <- sam_edge_figure   (01: Figure 1, no data)
#   R/tables/claims.{csv,md}, R/tables/claims_per_run.{csv,md}  <- sam_edge_claims (the shared
#                                                              claims table of eoslab.verdicts; per-run numbers)
#
# with R = {results}/sam_edge and experiment one of mlp, cnn, transformer (the keys of the
# section's `experiments`).  A training job's declared output is a copy of the run's status.json
# written when it has finished (or diverged), so Snakemake never deletes the checkpoint of an
# unfinished run; a killed or preempted job (SIGTERM: checkpoint, exit 143) resumes from it.
if "sam_edge" in config:

    rule sam_edge_data:
        output:
            data=f"{SE_ROOT}/data/{{experiment}}.npz",
            card=f"{SE_ROOT}/data/{{experiment}}.json",
        wildcard_constraints:
            experiment=SE_WILDCARDS["experiment"],
        params:
            settings=lambda w: shlex.quote(json.dumps(se_experiment(w.experiment, "The data")["data"], sort_keys=True)),
        log:
            f"{SE_ROOT}/logs/data/{{experiment}}.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab study sam_edge data {wildcards.experiment} --settings {params.settings} --out {output.data}"
            " > {log} 2>&1"

    rule sam_edge_train:
        input:
            data=f"{SE_ROOT}/data/{{experiment}}.npz",
            card=f"{SE_ROOT}/data/{{experiment}}.json",
        output:
            f"{SE_ROOT}/runs/{{experiment}}/lr{{lr}}_rho{{rho}}/finished.json",
        wildcard_constraints:
            **SE_WILDCARDS,
        params:
            run=lambda w: se_run_dir(w.experiment, w.lr, w.rho),
            settings=se_train_settings,
        threads: se_resource("threads")
        resources:
            gpu=se_resource("gpu"),
            runtime=se_resource("runtime"),
            mem_mb=se_resource("mem_mb"),
        log:
            f"{SE_ROOT}/logs/train/{{experiment}}/lr{{lr}}_rho{{rho}}.log",
        benchmark:
            f"{SE_ROOT}/benchmarks/train/{{experiment}}/lr{{lr}}_rho{{rho}}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study sam_edge train --experiment {wildcards.experiment}"
            " --lr {wildcards.lr} --rho {wildcards.rho} --data {input.data} --out {params.run}"
            " --settings {params.settings} >> {log} 2>&1"
            " && cp {params.run}/status.json {output}.tmp && mv {output}.tmp {output}"

    rule sam_edge_aggregate:
        input:
            lambda w: [f"{se_run_dir(w.experiment, lr, rho)}/finished.json" for lr, rho in se_grid(w.experiment)],
        output:
            f"{SE_ROOT}/aggregate/{{experiment}}.parquet",
        wildcard_constraints:
            experiment=SE_WILDCARDS["experiment"],
        params:
            runs=lambda w, input: " ".join(os.path.dirname(path) for path in input),
        log:
            f"{SE_ROOT}/logs/aggregate/{{experiment}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab study sam_edge aggregate --runs {params.runs} --out {output} > {log} 2>&1"

    rule sam_edge_figure:
        input:
            se_figure_input,
        output:
            pdf=report(f"{SE_ROOT}/figures/fig{{nn}}.pdf", caption="../report/sam_edge/figure.rst",
                       category="sam_edge", subcategory=lambda w: SE_FIGURES[w.nn].experiment or "theory"),
            png=f"{SE_ROOT}/figures/fig{{nn}}.png",
        wildcard_constraints:
            nn="0[1-9]|1[0-6]",
        params:
            flags=se_figure_flags,
            caption=lambda w: SE_FIGURES[w.nn].caption,
            out=lambda w, output: output.pdf.removesuffix(".pdf"),
        log:
            f"{SE_ROOT}/logs/figures/fig{{nn}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab study sam_edge figure {wildcards.nn} {params.flags} --out {params.out} > {log} 2>&1"

    rule sam_edge_claims:
        input:
            [f"{SE_ROOT}/aggregate/{name}.parquet" for name in SE_EXPERIMENTS],
        output:
            csv=report(f"{SE_ROOT}/tables/claims.csv", caption="../report/sam_edge/claims.rst", category="sam_edge",
                       subcategory="claims"),
            md=f"{SE_ROOT}/tables/claims.md",
            per_run_csv=f"{SE_ROOT}/tables/claims_per_run.csv",
            per_run_md=f"{SE_ROOT}/tables/claims_per_run.md",
        params:
            figure_rho=shlex.quote(json.dumps({name: se_figure_rho(name) for name in SE_EXPERIMENTS})),
            final_fraction=SE["final_fraction"],
            config=shlex.quote(config_source()),
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{SE_ROOT}/logs/claims.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab study sam_edge claims --aggregates {input} --figure-rho {params.figure_rho}"
            " --final-fraction {params.final_fraction} --config {params.config} --out {params.out} > {log} 2>&1"

    STUDY_TARGETS["sam_edge"] = [*se_figures(), *[f"{SE_ROOT}/tables/{name}.{ext}" for name in ("claims", "claims_per_run")
                                                  for ext in ("csv", "md")]]
