# Per-run tables → one table per data set × criterion → one table of all runs;
# the power-law fit (Table 2), Tables 1 and 3, and the claims of Sections 4–5.


rule aggregate_combo:
    input:
        lambda w: [analysis_path(e) for e in runs_of(w.dataset, w.criterion)],
    output:
        analysis="results/aggregate/{dataset}/{criterion}.parquet",
        training="results/aggregate/{dataset}/{criterion}.training.parquet",
    log:
        "results/logs/aggregate/{dataset}_{criterion}.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab aggregate --out {output.analysis} --training-out {output.training} {input} > {log} 2>&1"


rule aggregate_all:
    input:
        [f"results/aggregate/{d}/{c}.parquet" for d, c in combos()],
    output:
        analysis="results/aggregate/analysis.parquet",
        training="results/aggregate/training.parquet",
    log:
        "results/logs/aggregate/all.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab aggregate --combine --out {output.analysis} --training-out {output.training} {input} > {log} 2>&1"


rule table1:
    input:
        "results/aggregate/analysis.parquet",
    output:
        csv=report("results/tables/table1.csv", caption="../report/table1.rst", category="Tables"),
        md="results/tables/table1.md",
    log:
        "results/logs/tables/table1.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab table table1 --analysis {input} --out results/tables/table1 > {log} 2>&1"


rule table2:
    input:
        "results/aggregate/analysis.parquet",
    output:
        csv=report("results/tables/table2.csv", caption="../report/table2.rst", category="Tables"),
        md="results/tables/table2.md",
        tex="results/tables/table2.tex",
    params:
        transient=config["transient_iterations"],
    log:
        "results/logs/tables/table2.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab table table2 --analysis {input} --transient-iterations {params.transient}"
        " --out results/tables/table2 > {log} 2>&1"


rule table3:
    output:
        csv=report("results/tables/table3.csv", caption="../report/table3.rst", category="Tables"),
        md="results/tables/table3.md",
    log:
        "results/logs/tables/table3.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab table table3 --out results/tables/table3 > {log} 2>&1"


rule claims:
    input:
        analysis="results/aggregate/analysis.parquet",
        training="results/aggregate/training.parquet",
    output:
        csv=report("results/tables/claims.csv", caption="../report/claims.rst", category="Tables"),
        md="results/tables/claims.md",
    params:
        transient=config["transient_iterations"],
    log:
        "results/logs/tables/claims.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab table claims --analysis {input.analysis} --training {input.training}"
        " --transient-iterations {params.transient} --out results/tables/claims > {log} 2>&1"
