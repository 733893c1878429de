# jacobian_alignment: raw data → pools (one per data set) → seeded training subsets; Figure 5.
if "jacobian_alignment" in config:

    rule dice_pool:
        output:
            pool=f"{JA_ROOT}/data/dice/pool.npz",
            card=f"{JA_ROOT}/data/dice/pool.json",
        params:
            seed=JA["data"]["dice"]["seed"],
            per_class=JA["data"]["dice"]["per_class"],
            rendering=lambda w: cli_flags({k: JA["data"]["dice"][k] for k in ("background", "pip", "channels")}),
        # Processes rendering the dice: as many as the config's training jobs ask for (its
        # resources are sized to the nodes), not a fixed 4 — on SLURM a request larger than every
        # node keeps the job PENDING forever (a 2-CPU node, tests/slurm), and Snakemake says nothing.
        threads: max(ja_resource("train", "threads"), ja_resource("analyze", "threads"))
        log:
            f"{JA_ROOT}/logs/data/dice.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab data dice --out {output.pool} --seed {params.seed} --per-class {params.per_class} {params.rendering}"
            " --workers {threads} --no-progress > {log} 2>&1"

    rule cifar10_pool:
        output:
            pool=f"{JA_ROOT}/data/cifar10/pool.npz",
            card=f"{JA_ROOT}/data/cifar10/pool.json",
        params:
            root=JA["data"]["cifar10"]["root"],
            download="--download" if JA["data"]["cifar10"]["download"] else "",
        log:
            f"{JA_ROOT}/logs/data/cifar10.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab data cifar10 --out {output.pool} --root {params.root} {params.download} > {log} 2>&1"

    rule atrial_fibrillation_pool:
        output:
            pool=f"{JA_ROOT}/data/atrial_fibrillation/pool.npz",
            card=f"{JA_ROOT}/data/atrial_fibrillation/pool.json",
        params:
            root=JA["data"]["atrial_fibrillation"]["root"],
            stride=JA["data"]["atrial_fibrillation"]["stride"],
            per_case=JA["data"]["atrial_fibrillation"]["windows_per_case"],
            download="--download" if JA["data"]["atrial_fibrillation"]["download"] else "",
        log:
            f"{JA_ROOT}/logs/data/atrial_fibrillation.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab data atrial-fibrillation --out {output.pool} --root {params.root} --stride {params.stride}"
            " --windows-per-case {params.per_case}"
            " {params.download} > {log} 2>&1"

    rule sst_pool:
        output:
            pool=f"{JA_ROOT}/data/sst/pool.npz",
            card=f"{JA_ROOT}/data/sst/pool.json",
        params:
            root=JA["data"]["sst"]["root"],
            model=JA["data"]["sst"]["model"],
            download="--download" if JA["data"]["sst"]["download"] else "",
        log:
            f"{JA_ROOT}/logs/data/sst.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab data sst --out {output.pool} --root {params.root} --model {params.model} {params.download}"
            " --no-progress > {log} 2>&1"

    rule subset:
        input:
            pool=f"{JA_ROOT}/data/{{dataset}}/pool.npz",
        output:
            data=f"{JA_ROOT}/data/{{dataset}}/train_n{{size}}_s{{subset_seed}}.npz",
            card=f"{JA_ROOT}/data/{{dataset}}/train_n{{size}}_s{{subset_seed}}.json",
        wildcard_constraints:
            **JA_WILDCARDS,
        log:
            f"{JA_ROOT}/logs/data/{{dataset}}_n{{size}}_s{{subset_seed}}.log",
        conda:
            "../../envs/data.yaml"
        shell:
            "eoslab data subset --pool {input.pool} --size {wildcards.size} --seed {wildcards.subset_seed}"
            " --out {output.data} > {log} 2>&1"

    rule figure05:
        input:
            pool=f"{JA_ROOT}/data/dice/pool.npz",
        output:
            pdf=report(f"{JA_ROOT}/figures/fig05.pdf", caption="../report/figure.rst",
                       category="jacobian_alignment", subcategory="Data"),
            png=f"{JA_ROOT}/figures/fig05.png",
        params:
            caption=lambda w: ja_figure_caption("05"),
            out=lambda w, output: output.pdf.removesuffix(".pdf"),
        log:
            f"{JA_ROOT}/logs/figures/fig05.log",
        conda:
            "../../envs/plot.yaml"
        shell:
            "eoslab data figure5 --pool {input.pool} --out {params.out} > {log} 2>&1"
