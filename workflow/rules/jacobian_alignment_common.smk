# jacobian_alignment (Lowell & Kastner 2024): the experiment list, output paths and flags for the
# `eoslab` command, shared by the jacobian_alignment_*.smk rules files.  Every output of the study
# lives under JA_ROOT = {RESULTS}/jacobian_alignment.
if "jacobian_alignment" in config:
    import itertools

    from eoslab.studies.jacobian_alignment.catalog import FIGURES, figure_spec, figures_for, variants_for  # noqa: E402  (imports neither torch nor matplotlib)

    JA = study_config("jacobian_alignment")
    JA_ROOT = f"{RESULTS}/jacobian_alignment"
    JA_DATASETS = ("dice", "cifar10", "atrial_fibrillation", "sst")
    JA_CRITERIA = ("cross_entropy", "mse")
    # One run's part of a path: data set / criterion / subset size, subset seed, init seed.
    JA_RUN = "{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}"
    # Per rule (not global), so that other studies may use the same wildcard names freely.
    JA_WILDCARDS = dict(dataset="|".join(JA_DATASETS), criterion="|".join(JA_CRITERIA), size=r"\d+",
                        subset_seed=r"\d+", init_seed=r"\d+")

    def ja_experiments():
        """Every training run of the config: Table 1 rows × subset seeds × init seeds."""
        runs = []
        for row in JA["experiments"]:
            for size, subset_seed, init_seed in itertools.product(row["sizes"], JA["subset_seeds"],
                                                                  JA["init_seeds"]):
                runs.append(dict(dataset=row["dataset"], criterion=row["criterion"], size=size,
                                 subset_seed=subset_seed, init_seed=init_seed))
        return runs

    def ja_combos(experiments=None):
        """The (dataset, criterion) pairs a study section trains (this config's by default), in order."""
        seen = []
        for row in (JA if experiments is None else experiments)["experiments"]:
            if (row["dataset"], row["criterion"]) not in seen:
                seen.append((row["dataset"], row["criterion"]))
        return seen

    def ja_require_combo(dataset, criterion, what):
        """Stop before any job runs when `what` needs a data set × criterion this config does not
        train, naming the shipped configs that do."""
        if (dataset, criterion) in ja_combos():
            return
        trainers = []
        for path in sorted((WORKFLOW_ROOT / "config").glob("**/*.yaml")):
            if "schema" in path.parts[-1] or "schemas" in path.parts:
                continue
            section = (yaml.safe_load(path.read_text()) or {}).get("jacobian_alignment")
            if section and (dataset, criterion) in ja_combos(section):
                trainers.append(os.path.relpath(path))
        hint = "add it to jacobian_alignment.experiments"
        if trainers:
            others = f" (also trained by {', '.join(trainers[1:])})" if len(trainers) > 1 else ""
            hint = f"use --configfile {trainers[0]}{others}"
        # One line and exit status 1, before any job runs: raised as an exception here, Snakemake would wrap
        # the message in an InputFunctionException with a traceback.
        refuse(f"{what} shows {dataset}/{criterion}, which this config ({config_source()}) does not train; {hint}")

    def ja_pool_size(dataset):
        """``(training pool size, how it is known)`` of a data set: from its pool card once the pool
        exists, else from the data settings (dice: 6 classes × per_class / 2; CIFAR-10: 50,000;
        AtrialFibrillation: 15 cases × windows per case; SST-5: at most 8,544 training sentences)."""
        card = Path(f"{JA_ROOT}/data/{dataset}/pool.json")
        if card.is_file():
            try:
                return int(yaml.safe_load(card.read_text())["train_shape"][0]), f"its pool card {card}"
            except Exception:
                pass
        settings = JA["data"][dataset]
        if dataset == "dice":
            return 6 * settings["per_class"] // 2, f"6 classes × per_class {settings['per_class']} / 2 (train half)"
        if dataset == "cifar10":
            return 50_000, "the CIFAR-10 training batches"
        if dataset == "atrial_fibrillation":
            from eoslab.datasets.atrial_fibrillation import WINDOW

            per_case = settings["windows_per_case"] or len(range(0, 640 - WINDOW + 1, settings["stride"]))
            return 15 * per_case, f"15 training cases × {per_case} windows"
        return 8_544, "the SST-5 training split (at most)"

    def ja_check_sizes():
        """Refuse, before any job runs, a subset size larger than its data set's training pool."""
        for row in JA["experiments"]:
            pool, how = ja_pool_size(row["dataset"])
            too_big = [size for size in row["sizes"] if size > pool]
            if too_big:
                refuse(f"Invalid configuration {config_source()}: jacobian_alignment.experiments "
                       f"({row['dataset']}, {row['criterion']}): sizes {too_big} exceed the {row['dataset']} "
                       f"training pool of {pool} samples ({how}); use sizes up to {pool}")

    ja_check_sizes()

    def ja_subset_path(dataset, size, subset_seed):
        return f"{JA_ROOT}/data/{dataset}/train_n{size}_s{subset_seed}.npz"

    def ja_run_dir(w):
        return f"{JA_ROOT}/runs/{JA_RUN.format(**w)}"

    def ja_analysis_path(w):
        return f"{JA_ROOT}/analysis/{JA_RUN.format(**w)}.parquet"

    def ja_runs_of(dataset, criterion):
        return [e for e in ja_experiments() if e["dataset"] == dataset and e["criterion"] == criterion]

    def ja_combo_runs(w):
        """Input of aggregate_combo: the analysis tables of one data set × criterion."""
        ja_require_combo(w.dataset, w.criterion, f"The aggregate {w.dataset}/{w.criterion}")
        return [ja_analysis_path(e) for e in ja_runs_of(w.dataset, w.criterion)]

    def ja_figure_input(w):
        """Input of a figure: the aggregate of the data set × criterion it shows."""
        dataset, criterion = ja_figure_combo(w.nn)
        ja_require_combo(dataset, criterion, f"Figure {int(w.nn)}")
        return f"{JA_ROOT}/aggregate/{dataset}/{criterion}.parquet"

    def ja_training_flags(w):
        t, m = JA["training"], JA["model"]
        values = {**m, **{k: v for k, v in t.items() if k != "loss_thresholds"},
                  "loss_threshold": t["loss_thresholds"][w.criterion],
                  "transient_snapshot": JA["transient_iterations"]}
        for row in JA["experiments"]:  # a row's own iteration cap, if it sets one
            if (row["dataset"], row["criterion"]) == (w.dataset, w.criterion) and int(w.size) in row["sizes"]:
                values["max_iterations"] = row.get("max_iterations", values["max_iterations"])
                break
        # A run that diverges or stops at max_iterations is a result (status in finished.json), not a failed job.
        return cli_flags(values) + " --diverged-ok"

    def ja_analysis_flags(w):
        return cli_flags(JA["analysis"])

    def ja_resource(kind, name):
        return JA["resources"][kind][name]

    def ja_figure_combo(nn):
        return FIGURES[nn].dataset, FIGURES[nn].criterion

    def ja_figure_caption(nn, dataset=None, criterion=None):
        return figure_spec(nn, dataset, criterion).caption

    def ja_figure_subcategory(nn):
        return FIGURES[nn].section

    def ja_figures():
        """The figures of the data sets × criteria this config trains (the paper config: all 42), and the
        variants for trained pairs no figure of the paper shows (e.g. fig07_dice_mse)."""
        names = [*figures_for(ja_combos()), *(spec.name for spec in variants_for(ja_combos()))]
        return [f"{JA_ROOT}/figures/fig{name}.{ext}" for name in names for ext in ("pdf", "png")]

    STUDY_TARGETS["jacobian_alignment"] = [
        *[ja_analysis_path(e) for e in ja_experiments()],
        *[f"{JA_ROOT}/tables/{name}.csv" for name in ("table1", "table2", "table3", "claims")],
        *ja_figures(),
    ]
