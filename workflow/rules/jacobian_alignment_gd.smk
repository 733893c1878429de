# jacobian_alignment, optional variant: the flow's runs trained again by plain gradient descent at fixed
# step sizes η (jacobian_alignment.gradient_descent in the config; absent in the tiny, CPU and paper
# configs, which this file then leaves unchanged), from the same initial weights and data; each GD run is
# analysed like a flow run, and two figures and a table set GD beside the flow (docs/gd_at_the_edge.md):
#   snakemake -c2 all --configfile config/cpu/jacobian_alignment_gd.yaml
# Run list, paths and flags: jacobian_alignment_gd_common.smk.  Paths, under JA_ROOT/gd/:
# runs/{JA_GD_RUN}/, analysis/{JA_GD_RUN}.parquet; figures/gd_*.{pdf,png} and tables/gd_summary.{csv,md}
# under JA_ROOT.
if "jacobian_alignment" in config and JA.get("gradient_descent"):

    rule train_gd:
        input:
            data=f"{JA_ROOT}/data/{{dataset}}/train_n{{size}}_s{{subset_seed}}.npz",
            card=f"{JA_ROOT}/data/{{dataset}}/train_n{{size}}_s{{subset_seed}}.json",
        output:
            f"{JA_ROOT}/gd/runs/{JA_GD_RUN}/finished.json",
        wildcard_constraints:
            **JA_GD_WILDCARDS,
        params:
            run=lambda w: ja_gd_run_dir(w),
            flags=ja_gd_training_flags,
        threads: ja_resource("train", "threads")
        resources:
            gpu=ja_resource("train", "gpu"),
            runtime=ja_resource("train", "runtime"),
            mem_mb=ja_resource("train", "mem_mb"),
        log:
            f"{JA_ROOT}/logs/gd/train/{JA_GD_RUN}.log",
        benchmark:
            f"{JA_ROOT}/benchmarks/gd/train/{JA_GD_RUN}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} train --data {input.data}"
            " --out {params.run} --criterion {wildcards.criterion} --init-seed {wildcards.init_seed}"
            " {params.flags} >> {log} 2>&1"
            " && cp {params.run}/status.json {output}.tmp && mv {output}.tmp {output}"

    rule analyze_gd:
        input:
            finished=f"{JA_ROOT}/gd/runs/{JA_GD_RUN}/finished.json",
            data=f"{JA_ROOT}/data/{{dataset}}/train_n{{size}}_s{{subset_seed}}.npz",
        output:
            table=f"{JA_ROOT}/gd/analysis/{JA_GD_RUN}.parquet",
            card=f"{JA_ROOT}/gd/analysis/{JA_GD_RUN}.json",
        wildcard_constraints:
            **JA_GD_WILDCARDS,
        params:
            run=lambda w: ja_gd_run_dir(w),
            flags=ja_analysis_flags,
        threads: ja_resource("analyze", "threads")
        resources:
            gpu=ja_resource("analyze", "gpu"),
            runtime=ja_resource("analyze", "runtime"),
            mem_mb=ja_resource("analyze", "mem_mb"),
        log:
            f"{JA_ROOT}/logs/gd/analyze/{JA_GD_RUN}.log",
        benchmark:
            f"{JA_ROOT}/benchmarks/gd/analyze/{JA_GD_RUN}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} analyze {params.run} --out {output.table}"
            " {params.flags} > {log} 2>&1"

    rule gd_figures:
        input:
            flow=[ja_analysis_path(e) for e in ja_experiments()],
            gd=[ja_gd_analysis_path(e) for e in ja_gd_runs()],
        output:
            sharpness=report(f"{JA_ROOT}/figures/gd_sharpness.pdf", caption="../report/gd_sharpness.rst",
                             category="jacobian_alignment", subcategory="Gradient descent"),
            sharpness_png=f"{JA_ROOT}/figures/gd_sharpness.png",
            alignment=report(f"{JA_ROOT}/figures/gd_alignment.pdf", caption="../report/gd_alignment.rst",
                             category="jacobian_alignment", subcategory="Gradient descent"),
            alignment_png=f"{JA_ROOT}/figures/gd_alignment.png",
            summary=f"{JA_ROOT}/tables/gd_summary.csv",
            summary_md=f"{JA_ROOT}/tables/gd_summary.md",
        params:
            transient=JA["transient_iterations"],
            figures=lambda w, output: os.path.dirname(output.sharpness),
            tables=lambda w, output: os.path.dirname(output.summary),
        log:
            f"{JA_ROOT}/logs/figures/gd.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "python -m eoslab.studies.jacobian_alignment.gd --flow {input.flow} --gd {input.gd}"
            " --transient-iterations {params.transient} --figures {params.figures} --tables {params.tables}"
            " > {log} 2>&1"

    STUDY_TARGETS["jacobian_alignment"] += [
        f"{JA_ROOT}/figures/gd_sharpness.pdf",
        f"{JA_ROOT}/figures/gd_alignment.pdf",
        f"{JA_ROOT}/tables/gd_summary.csv",
    ]
