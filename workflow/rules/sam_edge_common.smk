# sam_edge (Long & Bartlett 2023): the experiments, run paths and flags for the `eoslab study
# sam_edge` commands, shared by the rules in sam_edge.smk.  Every output of the study lives under
# SE_ROOT = {results}/sam_edge.
if "sam_edge" in config:
    import json
    import shlex

    from eoslab.studies.sam_edge.catalog import FIGURES as SE_FIGURES  # noqa: E402  (imports neither torch nor matplotlib)

    SE = study_config("sam_edge")
    SE_ROOT = f"{RESULTS}/sam_edge"
    SE_EXPERIMENTS = list(SE["experiments"])
    SE_ALL_EXPERIMENTS = ("mlp", "cnn", "transformer")
    SE_WILDCARDS = dict(experiment="|".join(SE_ALL_EXPERIMENTS), lr=r"[0-9][0-9.e+-]*", rho=r"[0-9][0-9.e+-]*")

    def se_number(value):
        """A grid value as it appears in a run's path: 0.1 -> 0.1, 1.0 -> 1, 0.0003 -> 0.0003."""
        return f"{float(value):g}"

    def se_experiment(name, what):
        """The settings of experiment `name`; stop before any job runs if this config does not run it."""
        if name in SE["experiments"]:
            return SE["experiments"][name]
        runners = []
        for path in sorted((WORKFLOW_ROOT / "config").glob("**/*.yaml")):
            if "schema" in path.name or "schemas" in path.parts:
                continue
            section = (yaml.safe_load(path.read_text()) or {}).get("sam_edge")
            if section is not None and name in (section.get("experiments") or dict.fromkeys(SE_ALL_EXPERIMENTS)):
                runners.append(os.path.relpath(path))
        runners.sort(key=lambda path: (not path.startswith("config/paper/"), path))  # the paper's first
        others = f" (also run by {', '.join(runners[1:])})" if len(runners) > 1 else ""
        hint = f"use --configfile {runners[0]}{others}" if runners else f"add {name} to sam_edge.experiments"
        raise WorkflowError(f"{what} needs experiment {name!r} of study sam_edge, which this config "
                            f"({config_source()}) does not run; {hint}")

    def se_grid(name):
        ex = se_experiment(name, f"The runs of {name}")
        return [(se_number(lr), se_number(rho)) for lr in ex["lrs"] for rho in ex["rhos"]]

    def se_run_dir(name, lr, rho):
        return f"{SE_ROOT}/runs/{name}/lr{lr}_rho{rho}"

    def se_train_settings(w):
        ex = se_experiment(w.experiment, f"The run {w.experiment}/lr{w.lr}_rho{w.rho}")
        if (w.lr, w.rho) not in se_grid(w.experiment):
            raise WorkflowError(f"η = {w.lr}, ρ = {w.rho} is not in the grid of sam_edge experiment {w.experiment} "
                                f"(lrs {ex['lrs']}, rhos {ex['rhos']}) of {config_source()}")
        eig = SE["eigen"]
        settings = {"steps": ex["steps"], "eig_every": ex["eig_every"], "batch_size": ex["batch_size"],
                    "chunk_size": ex["chunk_size"], "model": ex["model"], "num_eigenvalues": eig["num_eigenvalues"],
                    "eig_tol": eig["tol"], "eig_method": eig["method"], "eig_max_iterations": eig["max_iterations"],
                    "seed": SE["seed"], "dtype": SE["dtype"], "checkpoint_every": SE["checkpoint_every"],
                    "divergence_factor": SE["divergence_factor"]}
        return shlex.quote(json.dumps(settings, sort_keys=True))

    def se_resource(key):
        return lambda w: se_experiment(w.experiment, "A training job")["resources"][key]

    def se_figure_rho(name):
        return SE["experiments"][name]["figure_rho"]

    def se_figure_input(w):
        name = SE_FIGURES[w.nn].experiment
        if name is None:
            return []
        ex = se_experiment(name, f"Figure {int(w.nn)}")
        for rho in (0.0, ex["figure_rho"]):
            if not any(float(r) == rho for r in ex["rhos"]):
                raise WorkflowError(f"Figure {int(w.nn)} shows ρ = 0 and ρ = figure_rho = {ex['figure_rho']:g} of "
                                    f"sam_edge experiment {name}, but its rhos are {ex['rhos']} in {config_source()}")
        return [f"{SE_ROOT}/aggregate/{name}.parquet"]

    def se_figure_flags(w, input):
        name = SE_FIGURES[w.nn].experiment
        if name is None:
            return ""
        return f"--aggregate {input[0]} --rho {se_figure_rho(name)}"

    def se_figures():
        numbers = ["01"] + [nn for nn, spec in SE_FIGURES.items() if spec.experiment in SE_EXPERIMENTS]
        return [f"{SE_ROOT}/figures/fig{nn}.{ext}" for nn in numbers for ext in ("pdf", "png")]
