# Figures 1–4 and 6–42 (Figure 5 is in data.smk): each reads only the
# aggregate of its own data set × criterion, so asking for one figure file
# builds only the runs it shows.


rule figure:
    input:
        lambda w: "results/aggregate/{}/{}.parquet".format(*figure_combo(w.nn)),
    output:
        pdf=report("results/figures/fig{nn}.pdf", caption="../report/figure.rst", category="Figures",
                   subcategory=lambda w: figure_subcategory(w.nn)),
        png="results/figures/fig{nn}.png",
    wildcard_constraints:
        nn="0[1-46-9]|[1-3][0-9]|4[0-2]",
    params:
        caption=lambda w: figure_caption(w.nn),
        transient=config["transient_iterations"],
    log:
        "results/logs/figures/fig{nn}.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab figure {wildcards.nn} --analysis {input} --transient-iterations {params.transient}"
        " --out results/figures/fig{wildcards.nn} > {log} 2>&1"
