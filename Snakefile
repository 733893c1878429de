# eoslab: reproduce Lowell & Kastner (2024), "Training on the Edge of Stability Is
# Caused by Layerwise Jacobian Alignment", from raw data to every table and figure.
#
#   snakemake -c2 all                                                   # tiny offline config (default)
#   snakemake --profile slurm all --configfile config/config.yaml       # the paper on a SLURM GPU cluster
#   snakemake -c4 results/figures/fig02.pdf --configfile config/config.yaml   # one figure
#   snakemake --report results/report.html                              # HTML report
#
# The rules only wire files to the `eoslab` command (workflow/eoslab, plain PyTorch).
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/tiny.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        [analysis_path(e) for e in experiments()],
        "results/tables/table1.csv",
        "results/tables/table2.csv",
        "results/tables/table3.csv",
        "results/tables/claims.csv",
        all_figures(),
