# Raw data → pools (one per data set) → seeded training subsets; Figure 5.


rule dice_pool:
    output:
        pool="results/data/dice/pool.npz",
        card="results/data/dice/pool.json",
    params:
        seed=config["data"]["dice"]["seed"],
        per_class=config["data"]["dice"]["per_class"],
    threads: 4
    log:
        "results/logs/data/dice.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "eoslab data dice --out {output.pool} --seed {params.seed} --per-class {params.per_class}"
        " --workers {threads} --no-progress > {log} 2>&1"


rule cifar10_pool:
    output:
        pool="results/data/cifar10/pool.npz",
        card="results/data/cifar10/pool.json",
    params:
        root=config["data"]["cifar10"]["root"],
        download="--download" if config["data"]["cifar10"]["download"] else "",
    log:
        "results/logs/data/cifar10.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "eoslab data cifar10 --out {output.pool} --root {params.root} {params.download} > {log} 2>&1"


rule atrial_fibrillation_pool:
    output:
        pool="results/data/atrial_fibrillation/pool.npz",
        card="results/data/atrial_fibrillation/pool.json",
    params:
        root=config["data"]["atrial_fibrillation"]["root"],
        stride=config["data"]["atrial_fibrillation"]["stride"],
        download="--download" if config["data"]["atrial_fibrillation"]["download"] else "",
    log:
        "results/logs/data/atrial_fibrillation.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "eoslab data atrial-fibrillation --out {output.pool} --root {params.root} --stride {params.stride}"
        " {params.download} > {log} 2>&1"


rule sst_pool:
    output:
        pool="results/data/sst/pool.npz",
        card="results/data/sst/pool.json",
    params:
        root=config["data"]["sst"]["root"],
        model=config["data"]["sst"]["model"],
        download="--download" if config["data"]["sst"]["download"] else "",
    log:
        "results/logs/data/sst.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "eoslab data sst --out {output.pool} --root {params.root} --model {params.model} {params.download}"
        " --no-progress > {log} 2>&1"


rule subset:
    input:
        pool="results/data/{dataset}/pool.npz",
    output:
        data="results/data/{dataset}/train_n{size}_s{subset_seed}.npz",
        card="results/data/{dataset}/train_n{size}_s{subset_seed}.json",
    log:
        "results/logs/data/{dataset}_n{size}_s{subset_seed}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "eoslab data subset --pool {input.pool} --size {wildcards.size} --seed {wildcards.subset_seed}"
        " --out {output.data} > {log} 2>&1"


rule figure05:
    input:
        pool="results/data/dice/pool.npz",
    output:
        pdf=report("results/figures/fig05.pdf", caption="../report/figure.rst", category="Figures",
                   subcategory="Data"),
        png="results/figures/fig05.png",
    params:
        caption=lambda w: figure_caption("05"),
    log:
        "results/logs/figures/fig05.log",
    conda:
        "../../envs/plot.yaml"
    shell:
        "eoslab data figure5 --pool {input.pool} --out results/figures/fig05 > {log} 2>&1"
