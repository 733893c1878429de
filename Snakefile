# eoslab: reproduce Lowell & Kastner (2024), "Training on the Edge of Stability Is Caused by
# Layerwise Jacobian Alignment", and companion studies of the edge of stability, from raw data to
# every table and figure.  Each study is one top-level section of the config and writes under
# {results}/<study>/ (README.md, "Configurations and outputs").
#
#   snakemake -c2 all                                    # every study's tiny version (config/tiny.yaml)
#   snakemake --profile slurm all --configfile config/paper/jacobian_alignment.yaml   # the paper, SLURM
#   snakemake -c4 results/paper/jacobian_alignment/figures/fig02.pdf \
#       --configfile config/paper/jacobian_alignment.yaml                             # one figure
#   snakemake --report results/tiny/report.html         # HTML report, grouped by study
#
# The rules only wire files to the `eoslab` command (workflow/eoslab, plain PyTorch).
from snakemake.utils import min_version

min_version("8.0")


# config/tiny.yaml only when no --configfile is given: a config of your own starts from the
# schemas' defaults (config/schemas/), not from the tiny values.
if not workflow.overwrite_configfiles:

    configfile: "config/tiny.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
# jacobian_alignment (Lowell & Kastner 2024)
include: "workflow/rules/jacobian_alignment_common.smk"
include: "workflow/rules/jacobian_alignment_data.smk"
include: "workflow/rules/jacobian_alignment_train.smk"
include: "workflow/rules/jacobian_alignment_analyze.smk"
include: "workflow/rules/jacobian_alignment_aggregate.smk"
include: "workflow/rules/jacobian_alignment_figures.smk"
include: "workflow/rules/jacobian_alignment_gd_common.smk"
include: "workflow/rules/jacobian_alignment_gd.smk"
# sam_edge (Long & Bartlett 2023)
include: "workflow/rules/sam_edge_common.smk"
include: "workflow/rules/sam_edge.smk"

# stochastic_eos (Agarwala & Pennington 2024)
include: "workflow/rules/stochastic_eos_common.smk"
include: "workflow/rules/stochastic_eos.smk"

# layerwise_sharpness (thesis 004: layerwise sharpness, step-size schemes, maximal step size)
include: "workflow/rules/layerwise_sharpness_common.smk"
include: "workflow/rules/layerwise_sharpness.smk"

rule all:
    default_target: True
    input:
        [target for targets in STUDY_TARGETS.values() for target in targets],
