# One analysis job per training run: every snapshot → the tidy per-run table.


rule analyze:
    input:
        finished="results/runs/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}/finished.json",
        data="results/data/{dataset}/train_n{size}_s{subset_seed}.npz",
    output:
        table="results/analysis/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.parquet",
        card="results/analysis/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.json",
    params:
        run=lambda w: run_dir(w),
        flags=analysis_flags,
        prune="--prune-snapshots" if config["snapshots"] == "ends" else "",
    threads: job_resource("analyze", "threads")
    resources:
        gpu=job_resource("analyze", "gpu"),
        runtime=job_resource("analyze", "runtime"),
        mem_mb=job_resource("analyze", "mem_mb"),
    log:
        "results/logs/analyze/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.log",
    benchmark:
        "results/benchmarks/analyze/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.tsv"
    conda:
        "../../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} eoslab analyze {params.run} --out {output.table} {params.flags}"
        " {params.prune} > {log} 2>&1"
