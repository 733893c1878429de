# jacobian_alignment: Figures 1–4 and 6–42 (Figure 5 is in jacobian_alignment_data.smk): each
# reads only the aggregate of its own data set × criterion, so asking for one figure file builds
# only the runs it shows.  A figure whose data set × criterion the config does not train stops
# Snakemake before any job runs, naming the shipped config that trains it.
if "jacobian_alignment" in config:

    rule figure:
        input:
            ja_figure_input,
        output:
            pdf=report(f"{JA_ROOT}/figures/fig{{nn}}.pdf", caption="../report/figure.rst",
                       category="jacobian_alignment", subcategory=lambda w: ja_figure_subcategory(w.nn)),
            png=f"{JA_ROOT}/figures/fig{{nn}}.png",
        wildcard_constraints:
            nn="0[1-46-9]|[1-3][0-9]|4[0-2]",
        params:
            caption=lambda w: ja_figure_caption(w.nn),
            transient=JA["transient_iterations"],
            out=lambda w, output: output.pdf.removesuffix(".pdf"),
        log:
            f"{JA_ROOT}/logs/figures/fig{{nn}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab figure {wildcards.nn} --analysis {input} --transient-iterations {params.transient}"
            " --out {params.out} > {log} 2>&1"

    # A figure's panels for a trained data set × criterion that no figure of the paper shows
    # (eoslab.studies.jacobian_alignment.catalog.variants_for), e.g. figures/fig07_dice_mse.pdf.
    rule figure_variant:
        input:
            f"{JA_ROOT}/aggregate/{{dataset}}/{{criterion}}.parquet",
        output:
            pdf=report(f"{JA_ROOT}/figures/fig{{nn}}_{{dataset}}_{{criterion}}.pdf", caption="../report/figure.rst",
                       category="jacobian_alignment", subcategory=lambda w: ja_figure_subcategory(w.nn)),
            png=f"{JA_ROOT}/figures/fig{{nn}}_{{dataset}}_{{criterion}}.png",
        wildcard_constraints:
            nn="0[1-46-9]|[1-3][0-9]|4[0-2]",
            dataset="|".join(JA_DATASETS),
            criterion="|".join(JA_CRITERIA),
        params:
            caption=lambda w: ja_figure_caption(w.nn, w.dataset, w.criterion),
            transient=JA["transient_iterations"],
            out=lambda w, output: output.pdf.removesuffix(".pdf"),
        log:
            f"{JA_ROOT}/logs/figures/fig{{nn}}_{{dataset}}_{{criterion}}.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab figure {wildcards.nn} --analysis {input} --transient-iterations {params.transient}"
            " --dataset {wildcards.dataset} --criterion {wildcards.criterion} --out {params.out} > {log} 2>&1"
