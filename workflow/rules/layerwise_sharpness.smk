# layerwise_sharpness (thesis 004: layerwise sharpness, step-size schemes, maximal stable step size):
# the rules.  Paths, inputs and flags: layerwise_sharpness_common.smk.
if "layerwise_sharpness" in config:

    rule ls_cifar10_pool:
        output:
            pool=LS_POOL,
            card=f"{LS_ROOT}/data/cifar10/pool.json",
        params:
            root=LS["cifar10"]["root"],
            download="--download" if LS["cifar10"]["download"] else "",
        log:
            f"{LS_ROOT}/logs/data/cifar10.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab data cifar10 --out {output.pool} --root {params.root} {params.download} > {log} 2>&1"

    rule ls_trajectory:
        input:
            ls_pool_input("trajectory"),
        output:
            log=f"{LS_ROOT}/runs/trajectory/{{run}}.parquet",
            card=f"{LS_ROOT}/runs/trajectory/{{run}}.json",
        wildcard_constraints:
            run=ls_catalog.TrajectoryRun.PATTERN.pattern.strip("^$"),
        params:
            flags=ls_trajectory_flags,
        threads: lambda w: ls_resource("trajectory_cifar10" if w.run.startswith("cifar10") else "trajectory", "threads")
        resources:
            runtime=lambda w: ls_resource("trajectory_cifar10" if w.run.startswith("cifar10") else "trajectory", "runtime"),
            mem_mb=lambda w: ls_resource("trajectory_cifar10" if w.run.startswith("cifar10") else "trajectory", "mem_mb"),
            gpu=lambda w: ls_resource("trajectory_cifar10" if w.run.startswith("cifar10") else "trajectory", "gpu"),
        log:
            f"{LS_ROOT}/logs/trajectory/{{run}}.log",
        benchmark:
            f"{LS_ROOT}/benchmarks/trajectory/{{run}}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study layerwise_sharpness trajectory --run {wildcards.run}"
            " --out {output.log} {params.flags} > {log} 2>&1"

    rule ls_maxstep:
        input:
            ls_pool_input("maxstep"),
        output:
            runs=f"{LS_ROOT}/runs/maxstep/{{point}}.parquet",
            card=f"{LS_ROOT}/runs/maxstep/{{point}}.json",
        wildcard_constraints:
            point=ls_catalog.MaxStepPoint.PATTERN.pattern.strip("^$"),
        params:
            flags=ls_maxstep_flags,
        threads: ls_resource("maxstep", "threads")
        resources:
            runtime=ls_resource("maxstep", "runtime"),
            mem_mb=ls_resource("maxstep", "mem_mb"),
            gpu=ls_resource("maxstep", "gpu"),
        log:
            f"{LS_ROOT}/logs/maxstep/{{point}}.log",
        benchmark:
            f"{LS_ROOT}/benchmarks/maxstep/{{point}}.tsv"
        conda:
            "../../envs/train.yaml"
        shell:
            "eoslab --threads {threads} study layerwise_sharpness maxstep --point {wildcards.point}"
            " --out {output.runs} {params.flags} > {log} 2>&1"

    rule ls_table:
        input:
            lambda w: [ls_maxstep_path(p) for p in ls_catalog.table_points(w.name, LS)],
        output:
            csv=report(f"{LS_ROOT}/tables/{{name}}.csv", caption="../report/layerwise_sharpness/table.rst",
                       category="layerwise_sharpness", subcategory="Chapter 4"),
            md=f"{LS_ROOT}/tables/{{name}}.md",
        wildcard_constraints:
            name="table_4_[12]",
        params:
            title=lambda w: ls_catalog.TABLE_TITLES[w.name],
            settings=ls_table_settings,
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{LS_ROOT}/logs/tables/{{name}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab study layerwise_sharpness table {wildcards.name} --inputs {input} --out {params.out}"
            " {params.settings} > {log} 2>&1"

    rule ls_claims:
        input:
            **ls_claims_inputs(),
        output:
            csv=report(f"{LS_ROOT}/tables/claims.csv", caption="../report/layerwise_sharpness/claims.rst",
                       category="layerwise_sharpness", subcategory="claims"),
            md=f"{LS_ROOT}/tables/claims.md",
        params:
            config=shlex.quote(config_source()),
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{LS_ROOT}/logs/tables/claims.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab study layerwise_sharpness claims --trajectories {input.trajectories} --maxstep {input.maxstep}"
            " --config {params.config} --out {params.out} > {log} 2>&1"

    rule ls_figure:
        input:
            ls_figure_inputs,
        output:
            pdf=report(f"{LS_ROOT}/figures/{{name}}.pdf", caption="../report/layerwise_sharpness/figure.rst",
                       category="layerwise_sharpness", subcategory=lambda w: ls_subcategory(w.name)),
            png=f"{LS_ROOT}/figures/{{name}}.png",
        wildcard_constraints:
            name=LS_FIGURE_NAMES,
        params:
            caption=lambda w: ls_catalog.FIGURES[w.name].caption,
            out=lambda w, output: output.pdf.removesuffix(".pdf"),
        log:
            f"{LS_ROOT}/logs/figures/{{name}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab study layerwise_sharpness figure {wildcards.name} --inputs {input} --out {params.out} > {log} 2>&1"

    STUDY_TARGETS["layerwise_sharpness"] = [
        f"{LS_ROOT}/tables/claims.csv", f"{LS_ROOT}/tables/claims.md",
        *[f"{LS_ROOT}/tables/{name}.{ext}" for name in ls_catalog.selected_tables(LS) for ext in ("csv", "md")],
        *[f"{LS_ROOT}/figures/{name}.{ext}" for name in ls_catalog.selected_figures(LS) for ext in ("pdf", "png")],
    ]
