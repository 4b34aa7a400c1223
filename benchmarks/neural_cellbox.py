"""CellBox on the Korkut 2015 RPPA data: the mechanistic model (and the hybrid) against
the baselines, on CellBox's protocols.

    python benchmarks/neural_cellbox.py [--protocols random,loo] [--seed 0]
        [--max-steps 1500] [--hybrid] [--write]

Per protocol, every fold trains `wc.neural.cellbox` (W masked as CellBox, eps and alpha
per node) on its training conditions with Adam (mini-batches of conditions, L1 on W)
and stops early on a validation set drawn from the training conditions (never the test
fold). Predictions are steady states found by Newton's method with implicit gradients.
Scores pool all test conditions x the 87 readout nodes (82 proteins, 5 phenotypes);
baselines are computed by `wc.neural.baselines` from the same folds. ``--write``
replaces the ``neural_cellbox`` block of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402

DATA = ROOT.parent / "shared" / "perturbation" / "cellbox_korkut2015_rppa"
PUBLISHED = {"random": ("~0.93", "0.88"), "loo": ("~0.935", "0.90"),
             "pairs": ("~0.92", "0.91"), "loo_nosingle": ("0.78", "0.781 (trivial)")}
PROTOCOLS = {
    "random": ("random partition, 5-fold", lambda d, s: wc.neural.random_partition(d, 5, s)),
    "loo": ("leave-one-drug-out, singles kept",
            lambda d, s: wc.neural.leave_one_drug_out(d, True, s)),
    "pairs": ("single drugs -> pairs", lambda d, s: wc.neural.singles_to_pairs(d, s)),
    "loo_nosingle": ("leave-one-drug-out, no singles",
                     lambda d, s: wc.neural.leave_one_drug_out(d, False, s)),
}


def run_protocol(data, folds, args, hybrid: bool):
    """Per fold, the steady states of ``args.ensemble`` models trained with different
    seeds (initial W, batch order), averaged (one model by default)."""
    preds, info = {}, []
    for i, fold in enumerate(folds):
        members = []
        for e in range(args.ensemble):
            key = jax.random.PRNGKey(args.seed * 1000 + i + 100_000 * e)
            model = wc.neural.cellbox(len(data.nodes), 82, wc.neural.CELLBOX_READOUTS,
                                      key=key, hybrid=hybrid, width=args.width,
                                      correction_inputs=args.correction_inputs)
            t = time.perf_counter()
            res = wc.neural.train(model, data.u, data.y, data.readouts, fold.train, fold.val,
                                  seed=args.seed + i + 1000 * e, learning_rate=args.lr,
                                  batch_size=args.batch, max_steps=args.max_steps,
                                  check_every=args.check_every, patience=args.patience,
                                  l1=args.l1, l2_correction=args.l2_correction,
                                  fallback=args.fallback_steps or True, progress=False)
            x = np.asarray(wc.neural.steady_state(res.model, data.u[fold.test]))
            members.append(x)
            info.append({"fold": fold.name, "member": e, "steps": res.steps,
                         "best_step": res.best_step, "best_val": min(res.val_loss),
                         "seconds": time.perf_counter() - t,
                         "nan_test": int(np.isnan(x).any(axis=1).sum())})
            print(json.dumps(info[-1]), flush=True)
        preds[fold.name] = np.mean(members, axis=0)
    return preds, info


def _label(method: str, args) -> str:
    if method == "hybrid" and args.correction_inputs == "state":
        method = "hybrid, g(x)"
    return method if args.ensemble == 1 else f"{method} (mean of {args.ensemble})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--protocols", default="random,loo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=1500)
    ap.add_argument("--check-every", type=int, default=25)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--l1", type=float, default=1e-4)
    ap.add_argument("--l2-correction", type=float, default=1e-2)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--fallback-steps", type=int, default=None,
                    help="bound the steady-state fallback integration (default 100,000)")
    ap.add_argument("--ensemble", type=int, default=1,
                    help="average the predictions of this many models per fold (seeds)")
    ap.add_argument("--hybrid", action="store_true", help="also train the hybrid")
    ap.add_argument("--correction-inputs", default="state_and_input",
                    choices=("state_and_input", "state"),
                    help="what the hybrid's network reads: x and u, or x only")
    ap.add_argument("--no-cellbox", action="store_true",
                    help="skip the mechanistic model (to run the hybrid on its own)")
    ap.add_argument("--commands", nargs="+", default=None,
                    help="with --render: the commands that produced the merged runs")
    ap.add_argument("--render", type=Path, nargs="+", default=None,
                    help="no training: merge these --json outputs into the table")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write all scores here")
    args = ap.parse_args(argv)
    if args.render:
        out = {}
        for path in args.render:
            for name, res in json.loads(path.read_text()).items():
                merged = out.setdefault(name, res)
                merged["scores"].update(res["scores"])
        args.hybrid = any("hybrid" in r["scores"] for r in out.values())
        args.protocols = ",".join(out)
        return _finish(out, args)
    data = wc.neural.load_cellbox(args.data)
    out = {}
    for name in args.protocols.split(","):
        title, make = PROTOCOLS[name]
        folds = make(data, args.seed)
        preds = {m: {} for m in ("no_change", "train_mean", "additive")}
        for fold in folds:
            for m, p in wc.neural.baselines(data, fold).items():
                preds[m][fold.name] = p
        print(f"# {title}: {len(folds)} folds", flush=True)
        info = {}
        for method, hybrid, on in (("cellbox", False, not args.no_cellbox),
                                   ("hybrid", True, args.hybrid)):
            if on:
                label = _label(method, args)
                preds[label], info[label] = run_protocol(data, folds, args, hybrid=hybrid)
        out[name] = {"title": title, "scores": wc.neural.score(data, folds, preds),
                     "train": info}
        print(json.dumps(out[name]["scores"], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return _finish(out, args)


def _finish(out: dict, args) -> int:
    text = table(out, args)
    print(text)
    if args.write:
        from benchmarks._common import write_section
        write_section("neural_cellbox", text)
    return 0


def table(out: dict, args) -> str:
    known = ["no_change", "train_mean", "additive", "cellbox", "hybrid"]
    present = {m for res in out.values() for m in res["scores"]}
    methods = [m for m in known if m in present] + sorted(present - set(known))
    commands = args.commands or [
        f"python benchmarks/neural_cellbox.py --protocols {args.protocols} --seed {args.seed}"
        f" --max-steps {args.max_steps} --batch {args.batch} --lr {args.lr}"
        + (" --hybrid" if args.hybrid else "") + " --write"]
    lines = [
        "## CellBox on the Korkut 2015 RPPA data (`wc.neural`)",
        "",
        *[f"    {c}" for c in commands],
        "",
        "Pooled over all test conditions x the 87 readout nodes (82 proteins, 5 phenotypes);",
        "r = Pearson of effects vs control, r_delta = Pearson after subtracting the training",
        "mean, fold r = mean +- sd of the per-fold Pearson r. No-change predicts 0 (its r is",
        "undefined). Early stopping on a validation set drawn from each fold's training",
        "conditions; one seed, no tuning on test folds.",
        "",
        "Training: Adam, batches of 8 conditions, learning rate 1e-2, L1 1e-4 on W,",
        "validation every 25 steps, patience 8, at most 1,000 steps; every fold of every",
        "protocol stopped early. `hybrid, g(x)` is the mechanistic model plus the neural",
        "correction on the state only (`correction_inputs=\"state\"`), trained the same way",
        "with an L2 penalty 1e-2 on its output. The additive baseline sums the training",
        "singles of a condition's drugs (a single not in training at that dose: the mean of",
        "that drug's training singles, else 0); in the random partition some singles are",
        "held out, hence 0.85 against CellBox's published 0.88 (which used every single).",
        "Wall time per fold: 6-24 s (CellBox) and 10-78 s (hybrid) on this 2-core CPU,",
        "shared with other runs.",
        "",
        "Earlier runs, not in the table: with at most 250 steps the mechanistic model gave",
        "0.931 (random), 0.925 (leave-one-drug-out with singles), 0.914 (pairs) and 0.709",
        "(no singles; the best step at the bound in 6 of 12 folds). A correction reading",
        "the drug inputs too, `g(x, u)`, gave 0.939 on the random partition but 0.466 on",
        "single drugs -> pairs: trained on singles, it extrapolates in u to pairs it never",
        "saw; reading the state only, it sees a pair through the state the mechanism",
        "drives it to. Leave-one-drug-out without singles: the mean of five models per",
        "fold (`--ensemble 5`, seeds of W and of the batch order) changes little (0.720",
        "against 0.718), so the gap to the published 0.78 is not seed noise; the per-fold",
        "mean r (0.764-0.768) is within 0.02 of it. Neither the mechanistic model nor the",
        "hybrid reaches 0.80 there.",
        "",
        "| protocol | method | r | r_delta | MAE | fold r | published r (model / additive) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, res in out.items():
        pub = PUBLISHED[name]
        for m in methods:
            if m not in res["scores"]:
                continue
            s = res["scores"][m]
            pub_txt = {"cellbox": pub[0], "additive": pub[1]}.get(m.split(" ")[0], "")
            lines.append(
                f"| {res['title']} | {m} | {s['pearson']:.3f} | {s['pearson_delta']:.3f} | "
                f"{s['mae']:.3f} | {s['pearson_fold_mean']:.3f} +- {s['pearson_fold_sd']:.3f} "
                f"| {pub_txt} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
