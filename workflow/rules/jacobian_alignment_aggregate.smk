# jacobian_alignment: per-run tables → one table per data set × criterion → one table of all
# runs; the power-law fit (Table 2), Tables 1 and 3, and the claims of Sections 4–5.
if "jacobian_alignment" in config:

    rule aggregate_combo:
        input:
            ja_combo_runs,
        output:
            analysis=f"{JA_ROOT}/aggregate/{{dataset}}/{{criterion}}.parquet",
            training=f"{JA_ROOT}/aggregate/{{dataset}}/{{criterion}}.training.parquet",
        wildcard_constraints:
            **JA_WILDCARDS,
        log:
            f"{JA_ROOT}/logs/aggregate/{{dataset}}_{{criterion}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab aggregate --out {output.analysis} --training-out {output.training} {input} > {log} 2>&1"

    rule aggregate_all:
        input:
            [f"{JA_ROOT}/aggregate/{d}/{c}.parquet" for d, c in ja_combos()],
        output:
            analysis=f"{JA_ROOT}/aggregate/analysis.parquet",
            training=f"{JA_ROOT}/aggregate/training.parquet",
        log:
            f"{JA_ROOT}/logs/aggregate/all.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab aggregate --combine --out {output.analysis} --training-out {output.training} {input} > {log} 2>&1"

    rule table1:
        input:
            f"{JA_ROOT}/aggregate/analysis.parquet",
        output:
            csv=report(f"{JA_ROOT}/tables/table1.csv", caption="../report/table1.rst",
                       category="jacobian_alignment", subcategory="Tables"),
            md=f"{JA_ROOT}/tables/table1.md",
        params:
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{JA_ROOT}/logs/tables/table1.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab table table1 --analysis {input} --out {params.out} > {log} 2>&1"

    rule table2:
        input:
            f"{JA_ROOT}/aggregate/analysis.parquet",
        output:
            csv=report(f"{JA_ROOT}/tables/table2.csv", caption="../report/table2.rst",
                       category="jacobian_alignment", subcategory="Tables"),
            md=f"{JA_ROOT}/tables/table2.md",
            tex=f"{JA_ROOT}/tables/table2.tex",
        params:
            transient=JA["transient_iterations"],
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{JA_ROOT}/logs/tables/table2.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab table table2 --analysis {input} --transient-iterations {params.transient}"
            " --out {params.out} > {log} 2>&1"

    rule table3:
        output:
            csv=report(f"{JA_ROOT}/tables/table3.csv", caption="../report/table3.rst",
                       category="jacobian_alignment", subcategory="Tables"),
            md=f"{JA_ROOT}/tables/table3.md",
        params:
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{JA_ROOT}/logs/tables/table3.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab table table3 --out {params.out} > {log} 2>&1"

    rule claims:
        input:
            analysis=f"{JA_ROOT}/aggregate/analysis.parquet",
            training=f"{JA_ROOT}/aggregate/training.parquet",
        output:
            csv=report(f"{JA_ROOT}/tables/claims.csv", caption="../report/claims.rst",
                       category="jacobian_alignment", subcategory="Tables"),
            md=f"{JA_ROOT}/tables/claims.md",
            readings_csv=f"{JA_ROOT}/tables/claims_readings.csv",
            readings_md=f"{JA_ROOT}/tables/claims_readings.md",
        params:
            transient=JA["transient_iterations"],
            snapshot_every=JA["training"]["snapshot_every"],
            config_name=config_source().replace("'", ""),
            out=lambda w, output: output.csv.removesuffix(".csv"),
        log:
            f"{JA_ROOT}/logs/tables/claims.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab table claims --analysis {input.analysis} --training {input.training}"
            " --transient-iterations {params.transient} --snapshot-every {params.snapshot_every}"
            " --config-name '{params.config_name}' --out {params.out} > {log} 2>&1"
