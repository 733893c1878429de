# One training job per data set × criterion × size × subset seed × init seed.
#
# The job's declared output is a copy of the run's status.json written when
# training has finished.  Everything else in the run directory (checkpoint,
# snapshots, log) is deliberately undeclared, so that Snakemake never deletes
# a checkpoint: a preempted or killed job (SIGTERM → checkpoint, exit 143;
# SLURM requeue; --restart-times) simply resumes from it when run again.


rule train:
    input:
        data="results/data/{dataset}/train_n{size}_s{subset_seed}.npz",
        card="results/data/{dataset}/train_n{size}_s{subset_seed}.json",
    output:
        "results/runs/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}/finished.json",
    params:
        run=lambda w: run_dir(w),
        flags=training_flags,
    threads: job_resource("train", "threads")
    resources:
        gpu=job_resource("train", "gpu"),
        runtime=job_resource("train", "runtime"),
        mem_mb=job_resource("train", "mem_mb"),
    log:
        "results/logs/train/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.tsv"
    conda:
        "../../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} eoslab train --data {input.data} --out {params.run}"
        " --criterion {wildcards.criterion} --init-seed {wildcards.init_seed} {params.flags} >> {log} 2>&1"
        " && cp {params.run}/status.json {output}.tmp && mv {output}.tmp {output}"
