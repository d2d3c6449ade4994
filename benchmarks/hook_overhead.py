"""Hook overhead against plain training, the same model trained plain and hooked, interleaved
in one run: median seconds per step of each and their ratio, per model and configuration.

    python benchmarks/hook_overhead.py                      # PyTorch on CPU (MLP, small CNN)
    python benchmarks/hook_overhead.py --device cuda        # ResNet-18 and a transformer encoder
    python benchmarks/hook_overhead.py --framework tensorflow
    python benchmarks/hook_overhead.py --framework integrations   # HF Trainer and Lightning callbacks
    python benchmarks/hook_overhead.py --framework integrations --self-time   # their own code, timed
    python benchmarks/hook_overhead.py --smdebug-python .bench/smdebug-venv/bin/python
    python benchmarks/hook_overhead.py --fsdp               # also FSDP2 rows (CPU, gloo, 2 ranks)
    python benchmarks/hook_overhead.py --compaction         # hooked, background compaction off vs on

Each framework's cases live in ``_overhead_<framework>.py`` (``cases(args)`` returns
``(model, config, plain_fn, hooked_fn)``, each function returning seconds per step). With
``--smdebug-python`` the PyTorch cases also run under smdebug 1.0.34 in that interpreter (its
own virtual environment) and its ratios are printed beside ours.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

FRAMEWORKS = ("pytorch", "tensorflow", "mxnet", "integrations")


def bootstrap_ci(xs: list[float], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the median of ``xs`` (``n`` resamples, fixed seed)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


def measure(case_list, repeats: int):  # noqa: ANN001, ANN201
    rows = []
    for model, config, plain, hooked in case_list:
        p, h = [], []
        for i in range(repeats):  # interleaved in ABBA order: a steady drift cancels out
            if i % 2 == 0:
                p.append(plain())
                h.append(hooked())
            else:
                h.append(hooked())
                p.append(plain())
        mp, mh = statistics.median(p), statistics.median(h)
        # The overhead is the median of the per-block ratios (each hooked block against the
        # plain block next to it): the machine's speed drifts between blocks, and a ratio of
        # two medians picks that drift up (plain vs plain: ratio of medians +0.4..+0.7%,
        # median of paired ratios -0.6..+0.3% in three runs here).
        pairs = [b / a for a, b in zip(p, h)]
        ratio = statistics.median(pairs)
        q1, _, q3 = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (ratio, ratio, ratio)
        lo, hi = bootstrap_ci(pairs) if len(pairs) > 1 else (ratio, ratio)
        rows.append((model, config, mp, mh, ratio, q1, q3, lo, hi))
        print(f"  {model:12s} {config:32s} plain {mp * 1e3:8.3f} ms  hooked {mh * 1e3:8.3f} ms  x{ratio:.3f} "
              f"(quartiles x{q1:.3f}-x{q3:.3f}, 95% CI of the median x{lo:.3f}-x{hi:.3f})",
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


def smdebug_ratios(python: str, args: argparse.Namespace) -> dict[str, float] | str:
    script = os.path.join(HERE, "_overhead_smdebug.py")
    cmd = [
        python,
        script,
        "--steps",
        str(args.steps),
        "--repeats",
        str(args.repeats),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    if args.models:
        cmd += ["--models", args.models]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.smdebug_timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"smdebug run failed: {e}"
    if proc.returncode != 0:
        return f"smdebug run failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    # smdebug may log to stdout after the result line (at exit): take the last JSON object line
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return f"smdebug run printed no result: {proc.stdout.strip()[-300:]!r}"
    return dict(json.loads(lines[-1]))


def fsdp_rows(args: argparse.Namespace) -> list[tuple[Any, ...]] | str:
    """The FSDP2 rows (``_overhead_fsdp.py`` under torch.distributed.run, 2 ranks on the CPU)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", os.path.join(HERE, "_overhead_fsdp.py"), "--steps", str(args.steps),
           "--repeats", str(args.repeats)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.dirname(HERE)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.smdebug_timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"FSDP run failed: {e}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return f"FSDP run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
    return [tuple(r) for r in json.loads(lines[-1])["rows"]]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", choices=FRAMEWORKS, default="pytorch")
    p.add_argument("--device", default="cpu", help="cpu or cuda (PyTorch)")
    p.add_argument("--steps", type=int, default=100, help="steps per timed block")
    p.add_argument(
        "--repeats", type=int, default=7, help="interleaved blocks per case (--compaction: rounds)"
    )
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated: mlp,cnn,resnet18,transformer (integrations: hf,lightning)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    p.add_argument("--save-all-gpu", action="store_true", help="also run save_all on the GPU")
    p.add_argument("--smdebug-python", default=None, help="python of a venv with smdebug 1.0.34")
    p.add_argument("--smdebug-timeout", type=float, default=1800)
    p.add_argument("--fsdp", action="store_true", help="also FSDP2 rows: CPU, gloo, 2 ranks (PyTorch)")
    p.add_argument("--clock", choices=("wall", "cpu"), default=None,
                   help="integrations: time blocks in the process's CPU time (default) or wall time")  # fmt: skip
    p.add_argument("--block-stat", choices=("mean", "median"), default=None,
                   help="integrations: a block's time per step is the mean over its window (default) or its "
                   "median step (robust to other jobs' bursts; blind to once-per-block costs)")  # fmt: skip
    p.add_argument("--self-time", action="store_true",
                   help="integrations: time the code each callback adds beyond the bare hook, per step "
                   "(_integration_self_time.py)")  # fmt: skip
    p.add_argument(
        "--compaction",
        action="store_true",
        help="instead: one hooked PyTorch model, background compaction off vs on (_overhead_compaction.py)",
    )
    p.add_argument("--compaction-secs", type=float, default=3.0, help="seconds per block with --compaction")
    p.add_argument(
        "--compaction-interval",
        type=float,
        default=0.5,
        help="--compaction: seconds between merge rounds (the writer's default is 10)",
    )
    p.add_argument(
        "--compaction-fanout",
        type=int,
        default=4,
        help="--compaction: segments a merge takes (the writer's default is 16)",
    )
    p.add_argument(
        "--compaction-flush",
        type=float,
        default=0.25,
        help="--compaction: the writer's flush interval in seconds (the default is 1)",
    )
    args = p.parse_args(argv)
    if args.compaction:
        compaction_table(args)
        return
    if args.self_time:
        if args.framework != "integrations":
            p.error(f"--self-time with --framework {args.framework}: it times the integrations' callbacks; "
                    "use --framework integrations")  # fmt: skip
        import _integration_self_time
        import _overhead_integrations

        try:
            _integration_self_time.self_time_table(_overhead_integrations.setups(args), args)
        finally:
            _overhead_integrations.cleanup()
        return
    mod = importlib.import_module(f"_overhead_{args.framework}")
    print(
        f"{args.framework} on {args.device}: {args.repeats} interleaved blocks of {args.steps} steps",
        file=sys.stderr,
    )
    rows = measure(mod.cases(args), args.repeats)
    fsdp = fsdp_rows(args) if args.fsdp and args.framework == "pytorch" else []
    if isinstance(fsdp, str):
        print(fsdp, file=sys.stderr)
    else:
        rows += fsdp
    theirs: dict[str, float] | str = {}
    if args.smdebug_python and args.framework == "pytorch":
        theirs = smdebug_ratios(args.smdebug_python, args)
    print(
        f"\n{args.framework}, device {args.device}, {args.repeats} interleaved blocks of {args.steps} steps: median "
        "ms/step; overhead = median of the hooked/plain ratios of consecutive blocks (ABBA), spread = their "
        "quartiles, CI = a 95% bootstrap interval of that median\n"
    )
    print(
        "| model | configuration | plain ms/step | smdbg ms/step | smdbg overhead | spread | 95% CI "
        "| smdebug 1.0.34 overhead |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model, config, mp, mh, ratio, *quartiles in rows:
        spread = f"{(quartiles[0] - 1) * 100:+.1f}..{(quartiles[1] - 1) * 100:+.1f}%" if quartiles else "n/a"
        ci = (
            f"{(quartiles[2] - 1) * 100:+.1f}..{(quartiles[3] - 1) * 100:+.1f}%"
            if len(quartiles) > 3
            else "n/a"
        )
        if isinstance(theirs, str):
            other = "n/a"
        else:
            r = theirs.get(f"{model}|{config}")
            other = "not run" if r is None else f"{(r - 1) * 100:+.1f}%"
        print(
            f"| {model} | {config} | {mp * 1e3:.3f} | {mh * 1e3:.3f} | {(ratio - 1) * 100:+.1f}% | {spread} | {ci} "
            f"| {other} |"
        )
    if isinstance(theirs, str):
        print(f"\nsmdebug: {theirs}")
    if hasattr(mod, "cleanup"):
        mod.cleanup()


def compaction_table(args: argparse.Namespace) -> None:
    import _overhead_compaction as mod

    try:
        model, steps, arms = mod.rounds(args)
        rounds = mod.compaction_rounds()
    finally:
        mod.cleanup()
    print(
        f"\nPyTorch on {args.device}, one hook saving reductions every step, {args.repeats} rounds of three "
        f"blocks of {steps} steps (A off, B on, C off; order ABC, BCA, CAB, ...): median ms/step; ratio = median "
        f"over the rounds of B/A (compaction's cost) and C/A (noise), with quartiles; {rounds} compaction rounds ran\n"
    )
    print("| model | pair | ms/step | ms/step (reference A) | median ratio | quartiles |")
    print("|---|---|---:|---:|---:|---:|")
    ref = statistics.median(arms["A"])
    for arm, label in (("C", "off vs off (noise)"), ("B", "off vs on")):
        pairs = [x / a for x, a in zip(arms[arm], arms["A"])]
        q1, med, q3 = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (pairs[0],) * 3
        print(f"| {model} | {label} | {statistics.median(arms[arm]) * 1e3:.3f} | {ref * 1e3:.3f} | {med:.3f} | "
              f"{q1:.3f}-{q3:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
