"""The integrations' own cost, timed directly:
``python benchmarks/hook_overhead.py --framework integrations --self-time``.

An A/B of whole training runs cannot resolve an effect much smaller than its block-to-block noise;
this times the code the integration adds. Each repeat trains the shared model twice: a block
with the bare hook (its step time, in ``--clock`` time, is the reference) and a block with
``SmdbgCallback`` in which every piece of code it adds beyond the bare hook is timed with
``time.perf_counter``:

* each method of the callback that overrides the framework's callback class (``on_log``,
  ``on_pre_optimizer_step`` ...), with the hook calls it makes;
* each PyTorch hook on the model, its submodules, parameters or the optimizer (and the global
  module/optimizer hooks) that the callback's block has and the bare hook's block has not, found
  by comparing both at the start of the timed window (for Hugging Face: the callback's loss
  forward hook and the hook's mode-following forward pre-hook); its body is timed in place;
* PyTorch's hooked call path: a module with any forward (pre-)hook leaves ``Module.__call__``'s
  fast path. That cost is in no function of the integration, so it is measured beside the run:
  calls of an empty module with as many no-op hooks as the callback added to the model, against
  the same calls without them (interleaved), times the model's forwards per step.

The wrapper's own cost inside the interval it measures (a clock read and a call) is measured
around an empty function called the same way (same number of positional and keyword arguments)
and subtracted per call; it is printed. That calibration runs hot, while the pieces run with caches
cold from the step's work: a control row times an empty method of the same event on another
callback the same way (not counted in the total), so each piece may read high by about that. Only the A/B's timed window counts (from the end of the
first step to the end of training); what runs outside it (set-up, the hook's close) is printed
apart, once per run. Work the callback hands to the hook's writer thread (the scalars of logged
values) is not in these times; the A/B's CPU clock counts it.
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from _overhead_integrations import Setup, block

__all__ = ["self_time_table"]

_clock = time.perf_counter
_HOOK_KINDS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")
_OPT_KINDS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks")


class Piece:
    """The time and calls of one piece of integration code, and how it was called (for the
    wrapper's cost)."""

    def __init__(self, name: str, control: bool = False) -> None:
        self.name = name
        self.control = control  # an empty method timed the same way: the wrapper's cost when cold
        self.total = 0.0
        self.calls = 0
        self.shape: tuple[int, tuple[str, ...]] = (0, ())

    def snapshot(self) -> tuple[float, int]:
        return self.total, self.calls


def timed(piece: Piece, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with each call's perf_counter time added to ``piece``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            piece.total += _clock() - t0
            piece.calls += 1
            piece.shape = (len(args), tuple(kwargs))

    return wrapper


@functools.cache
def wrapper_cost(nargs: int, kwnames: tuple[str, ...], n: int = 100_000) -> float:
    """Seconds :func:`timed` measures around an empty function called with ``nargs`` positional
    and these keyword arguments: the least of 5 rounds of ``n`` calls (a fixed cost, which other
    jobs on the machine can only inflate)."""
    piece = Piece("empty")
    fn = timed(piece, lambda *a, **k: None)
    args, kwargs = (None,) * nargs, dict.fromkeys(kwnames)
    rounds = []
    for _ in range(5):
        piece.total, piece.calls = 0.0, 0
        for _ in range(n):
            fn(*args, **kwargs)
        rounds.append(piece.total / piece.calls)
    return min(rounds)


class _Echo(torch.nn.Module):
    def forward(self, input_ids: Any = None, labels: Any = None) -> dict[str, Any]:
        return {"loss": labels}


def hooked_call_cost(pre: int, post: int, n: int = 2000, rounds: int = 10) -> float:
    """Seconds a module call costs more with ``pre`` no-op forward pre-hooks and ``post`` no-op
    forward hooks than with none (PyTorch's slow call path, and the no-op calls): the median over
    ``rounds`` pairs of ``n`` calls each (ABBA order), called with keyword arguments as the
    Trainer calls its model."""
    m, x = _Echo(), torch.zeros(1)
    diffs = []
    for r in range(rounds):
        secs = {}
        for hooked in (True, False) if r % 2 == 0 else (False, True):
            handles = []
            if hooked:
                handles = [m.register_forward_pre_hook(lambda mod, a: None) for _ in range(pre)]
                handles += [m.register_forward_hook(lambda mod, a, o: None) for _ in range(post)]
            t0 = _clock()
            for _ in range(n):
                m(input_ids=x, labels=x)
            secs[hooked] = (_clock() - t0) / n
            for h in handles:
                h.remove()
        diffs.append(secs[True] - secs[False])
    return statistics.median(diffs)


def _fn_name(fn: Any) -> str:
    f = getattr(fn, "__wrapped__", fn)
    f = getattr(f, "func", f)  # functools.partial
    f = getattr(f, "__func__", f)  # a bound method
    return str(getattr(f, "__qualname__", type(f).__name__))


def hook_dicts(model: torch.nn.Module, optimizers: list[Any]) -> list[tuple[str, str, dict[int, Any]]]:
    """(where, kind, PyTorch's hook dict) of every hook point of the model, its parameters, the
    optimizers and the global module and optimizer hooks."""
    import torch.nn.modules.module as mm
    import torch.optim.optimizer as om

    out: list[tuple[str, str, dict[int, Any]]] = [
        ("global", "forward_pre", mm._global_forward_pre_hooks),
        ("global", "forward", mm._global_forward_hooks),
        ("global", "backward", mm._global_backward_hooks),
        ("global", "optimizer_pre", om._global_optimizer_pre_hooks),
        ("global", "optimizer_post", om._global_optimizer_post_hooks),
    ]
    for name, module in model.named_modules():
        for kind in _HOOK_KINDS:
            d = getattr(module, kind, None)
            if d is not None:
                out.append((name or "<model>", kind.strip("_").removesuffix("_hooks"), d))
    for name, p in model.named_parameters():
        d = getattr(p, "_post_accumulate_grad_hooks", None)
        if d is not None:
            out.append((name, "post_accumulate_grad", d))
    for opt in optimizers:
        for kind in _OPT_KINDS:
            out.append((type(opt).__name__, kind.strip("_").removesuffix("_hooks"), getattr(opt, kind)))
    return out


def hook_census(dicts: list[tuple[str, str, dict[int, Any]]]) -> collections.Counter[tuple[str, str, str]]:
    return collections.Counter((where, kind, _fn_name(fn)) for where, kind, d in dicts for fn in d.values())


class SelfTimedBlock:
    """One ``SmdbgCallback`` block with the integration's pieces timed (see the module doc)."""

    def __init__(self, s: Setup, bare_census: collections.Counter[tuple[str, str, str]]) -> None:
        self.s = s
        self.bare_census = bare_census
        self.pieces: list[Piece] = []
        self.wrapped: list[
            tuple[dict[int, Any], int, Any, str, str, Piece]
        ] = []  # dict, id, wrapper, where, kind
        self.at_t0: list[tuple[float, int]] = []
        self.at_t1: list[tuple[float, int]] = []
        self.problems: list[str] = []
        self.cb = s.callback()
        for name in dir(type(self.cb)):  # the callback's events (its overrides of the framework's)
            own, base = getattr(type(self.cb), name), getattr(s.base, name, None)
            if (
                (name.startswith("on_") or name in ("setup", "teardown"))
                and callable(own)
                and own is not base
            ):
                piece = Piece(f"{type(self.cb).__name__}.{name}")
                self.pieces.append(piece)
                setattr(self.cb, name, timed(piece, getattr(self.cb, name)))

    def _dicts(self) -> list[tuple[str, str, dict[int, Any]]]:
        hook = self.cb.hook
        return hook_dicts(self.s.model, list(hook.targets.optimizers) if hook is not None else [])

    def _start(self) -> None:
        extra = hook_census(self._dicts()) - self.bare_census
        for where, kind, d in self._dicts():
            for hid, fn in list(d.items()):
                key = (where, kind, _fn_name(fn))
                if extra[key] > 0:
                    extra[key] -= 1
                    piece = Piece(f"{_fn_name(fn)} ({kind} hook on {where})")
                    self.pieces.append(piece)
                    d[hid] = wrapper = timed(piece, fn)
                    self.wrapped.append((d, hid, wrapper, where, kind, piece))
        self.at_t0 = [p.snapshot() for p in self.pieces]

    def _stop(self) -> None:
        self.at_t1 = [p.snapshot() for p in self.pieces]
        for d, hid, wrapper, where, kind, _ in self.wrapped:
            if d.get(hid) is not wrapper:
                self.problems.append(
                    f"a {kind} hook on {where} was removed during the window (timed until then)"
                )
        ours = {id(w) for _, _, w, _, _, _ in self.wrapped}
        late = hook_census(self._dicts()) - self.bare_census
        untimed = sum(late.values()) - sum(
            1 for _, _, d in self._dicts() for fn in d.values() if id(fn) in ours
        )
        if untimed > 0:
            self.problems.append(f"{untimed} hook(s) added during the window were not timed: {dict(late)}")

    def run(self) -> dict[str, Any]:
        """Train one block; returns per-piece (seconds in the window, calls in the window, the
        wrapper's cost per call), the seconds outside the window, and the forwards per step of
        the modules that got hooks."""
        timer = self.s.timer()
        timer.at_start, timer.at_stop = self._start, self._stop
        for piece in list(self.pieces):  # controls: the timing callback's empty methods of the same events
            event = piece.name.rsplit(".", 1)[-1]
            if getattr(type(timer), event, None) is getattr(self.s.base, event):
                control = Piece(f"control: {self.s.base.__name__}.{event} (empty, on another callback)", True)
                self.pieces.append(control)
                setattr(timer, event, timed(control, getattr(timer, event)))
        block(self.s, lambda: self.cb, clock=timer)
        end = [p.snapshot() for p in self.pieces]
        rows, outside = {}, 0.0
        t0s = self.at_t0 + [(0.0, 0)] * (len(self.pieces) - len(self.at_t0))
        for p, (a_t, a_n), (b_t, b_n), (e_t, e_n) in zip(self.pieces, t0s, self.at_t1, end):
            bias = wrapper_cost(*p.shape) if p.calls else 0.0
            rows[p.name] = (b_t - a_t - (b_n - a_n) * bias, b_n - a_n, bias)
            if not p.control:
                outside += a_t - a_n * bias + (e_t - b_t) - (e_n - b_n) * bias
        # forward (pre-)hooks on a module that had none in the bare block: PyTorch's slow call path
        bare_hooked = {w for (w, k, _), n in self.bare_census.items() if n and k.startswith("forward")}
        slow: dict[str, list[int]] = {}
        for _, _, _, where, kind, piece in self.wrapped:
            if kind.startswith("forward") and where != "global" and where not in bare_hooked:
                counts = slow.setdefault(where, [0, 0, 0])  # pre-hooks, forward hooks, forwards
                counts[0 if kind == "forward_pre" else 1] += 1
                counts[2] = max(counts[2], rows[piece.name][1])
        return {"pieces": rows, "outside": outside, "slow": slow, "problems": self.problems}


def self_time_table(setups: list[Setup], args: argparse.Namespace) -> None:
    """Print, per framework, the integration's pieces in µs per optimizer step and in % of the
    bare hook's step (median over ``args.repeats`` repeats, quartiles)."""
    print(f"integrations --self-time: {args.repeats} repeats of a bare-hook block and a self-timed SmdbgCallback "
          f"block, {args.steps} steps each", file=sys.stderr)  # fmt: skip
    for s in setups:
        steps = s.steps - 1  # the timed window's steps
        per_step: dict[str, list[float]] = collections.defaultdict(list)
        calls: dict[str, int] = {}
        bias: dict[str, float] = {}
        totals, pcts, bare_ms, outside = [], [], [], []
        problems: set[str] = set()
        for r in range(args.repeats):
            census: collections.Counter[tuple[str, str, str]] = collections.Counter()
            bare = s.bare()

            def scan(bare: Any = bare, census: Any = census, model: Any = s.model) -> None:
                census.update(hook_census(hook_dicts(model, list(bare.hook.targets.optimizers))))

            timer = s.timer()
            timer.at_start = scan
            bare_step = block(s, lambda bare=bare: bare, clock=timer)
            res = SelfTimedBlock(s, census).run()
            problems.update(res["problems"])
            total = 0.0
            for name, (secs, n, b) in res["pieces"].items():
                per_step[name].append(secs / steps)
                calls[name], bias[name] = n, b
                total += 0.0 if name.startswith("control: ") else secs / steps
            for where, (pre, post, forwards) in res["slow"].items():
                name = f"PyTorch's hooked call path on {where} ({pre} pre-hook(s), {post} forward hook(s))"
                cost = hooked_call_cost(pre, post) * forwards / steps
                per_step[name].append(cost)
                calls[name], bias[name] = forwards, 0.0
                total += cost
            totals.append(total)
            bare_ms.append(bare_step)
            pcts.append(100 * total / bare_step)
            outside.append(res["outside"])
            print(f"  {s.name} repeat {r + 1}: bare {bare_step * 1e3:.3f} ms/step, integration {total * 1e6:.1f} us/step "
                  f"({pcts[-1]:.3f}%)", file=sys.stderr, flush=True)  # fmt: skip
        _print(s.name, steps, per_step, calls, bias, totals, pcts, bare_ms, outside, problems)


def _q(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q1, med, q3 = statistics.quantiles(xs, n=4)
    return q1, statistics.median(xs), q3


def _print(name: str, steps: int, per_step: dict[str, list[float]], calls: dict[str, int], bias: dict[str, float],
           totals: list[float], pcts: list[float], bare: list[float], outside: list[float],
           problems: set[str]) -> None:  # fmt: skip
    ref = statistics.median(bare)
    print(
        f"\n{name}: the integration's own cost per optimizer step (timed window: {steps} steps), median over "
        f"{len(totals)} repeats (quartiles); bare hook's step {ref * 1e3:.3f} ms (median, --clock time)\n"
    )
    print("| piece | calls/step | µs/call | µs/step | % of the bare hook's step |")
    print("|---|---:|---:|---:|---:|")
    controls = [k for k in per_step if k.startswith("control: ")]

    def row(piece: str, xs: list[float]) -> None:
        q1, med, q3 = _q(xs)
        n = calls[piece] / steps
        per_call = f"{med / n * 1e6:.2f}" if n else "-"
        print(f"| {piece} | {n:.2f} | {per_call} | {med * 1e6:.2f} ({q1 * 1e6:.2f}..{q3 * 1e6:.2f}) | "
              f"{100 * med / ref:.3f}% |")  # fmt: skip

    for piece, xs in per_step.items():
        if calls[piece] and piece not in controls:
            row(piece, xs)
    q1, med, q3 = _q(totals)
    p1, pm, p3 = _q(pcts)
    print(f"| **total** | | | **{med * 1e6:.1f}** ({q1 * 1e6:.1f}..{q3 * 1e6:.1f}) | "
          f"**{pm:.3f}%** ({p1:.3f}..{p3:.3f}%) |")  # fmt: skip
    for piece in controls:  # not in the total: what the timing itself reads around an empty method
        if calls[piece]:
            row(piece, per_step[piece])
    print(
        f"\nOutside the window, once per run (set-up, the hook's close): {statistics.median(outside) * 1e3:.1f} ms "
        "(median). Wrapper cost subtracted per call: "
        + ", ".join(f"{k.split(' ')[0]} {v * 1e6:.2f} µs" for k, v in bias.items() if v and k not in controls)
    )
    print(
        "Controls: an empty method of the same event on another callback, timed the same way: the timing's own "
        "cost per call with cold caches, beyond the subtracted one; each piece above may be high by about that."
    )
    idle = [k.split(".")[-1] for k in per_step if not calls[k] and k not in controls]
    if idle:
        print(f"Not called in the window: {', '.join(idle)}.")
    for p in sorted(problems):
        print(f"WARNING: {p}")
