"""CPU histograms equal ``np.histogram``'s, edge for edge and count for count, on the values
themselves (finite ones; float32 data read as float64, as ``compute_histogram`` does): the
batched capture, one tensor, a fixed range, and the data that puts values on or next to edges;
each test with the compiled counting loop and with the numpy passes (``SMDBG_HISTOGRAM_KERNEL``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smdbg.hooks._plan import TensorPlan
from smdbg.hooks.torch import _bins
from smdbg.hooks.torch._bins import exact_counts, uniform_edges, uniform_edges_many
from smdbg.hooks.torch._capture import StepCapture
from smdbg.hooks.torch._hist import cpu_bin_counts, cpu_histogram, cpu_histograms
from smdbg.reductions import HISTOGRAM


def _numpy(x: torch.Tensor, bins: int, rng: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    a = x.detach().double().numpy().reshape(-1) if x.dtype != torch.float64 else x.numpy().reshape(-1)
    a = a[np.isfinite(a)]
    if rng is None:
        lo, hi = float(a.min()), float(a.max())
        rng = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    counts, edges = np.histogram(a, bins=bins, range=rng)
    return edges, counts


def _cases() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    w = torch.empty(256, 784).uniform_(-0.05, 0.05, generator=g)
    w[0, :50] = 0.0  # zeros on the middle edge of a symmetric range
    near = torch.tensor([0.0, 1e-30, -1e-30, 1e-8, -1e-8, 2.5, -2.5, 1.25, -1.25, 0.625])
    return {
        "randn 256x784": torch.randn(256, 784, generator=g),
        "uniform weights with zeros": w,
        "integer-valued floats": torch.randint(-50, 51, (5000,), generator=g).float(),
        "values next to edges": near,
        "wide scale": torch.randn(4096, generator=g) * 1e6,
        "tiny scale": torch.randn(4096, generator=g) * 1e-6 + 3.0,
        "constant": torch.full((100,), 3.0),
        "bfloat16": torch.randn(3000, generator=g).to(torch.bfloat16),
        "float64": torch.randn(3000, generator=g, dtype=torch.float64),
        "int64": torch.randint(-7, 9, (3000,), generator=g),
    }


CASES = _cases()


@pytest.fixture(autouse=True, params=["numba", "numpy"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: counted by the compiled loop and by the numpy passes (``_bins_kernel``)."""
    if request.param == "numba":
        pytest.importorskip("numba")  # installed with smdbg[torch]; under CI=true a skip fails
    monkeypatch.setenv("SMDBG_HISTOGRAM_KERNEL", request.param)
    return str(request.param)


@pytest.mark.parametrize("bins", [64, 7, 1])
def test_batched_cpu_histograms_equal_numpy(bins: int) -> None:
    names = list(CASES)
    got = cpu_histograms([(CASES[n], bins, "minmax", None) for n in names])
    for name, h in zip(names, got):
        edges, counts = _numpy(CASES[name], bins)
        assert np.array_equal(h.edges, edges), name
        assert np.array_equal(h.counts, counts), (name, h.counts - counts)
        assert h.outside == 0 and h.counts.dtype == np.int64


@pytest.mark.parametrize("name", ["randn 256x784", "values next to edges", "integer-valued floats"])
def test_one_tensor_and_a_fixed_range_equal_numpy(name: str) -> None:
    x = CASES[name]
    h = cpu_histogram(x, 16, "minmax")
    edges, counts = _numpy(x, 16)
    assert np.array_equal(h.edges, edges) and np.array_equal(h.counts, counts)
    rng = (-1.25, 1.1)  # edges on exact float32 values and between them; values outside
    h = cpu_histogram(x, 10, rng)
    edges, counts = _numpy(x, 10, rng)
    assert np.array_equal(h.edges, edges) and np.array_equal(h.counts, counts)
    assert h.outside == x.numel() - counts.sum()


def test_non_finite_values_are_outside_and_the_rest_equal_numpy() -> None:
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(3))
    x[[5, 77, 900]] = torch.tensor([float("nan"), float("inf"), float("-inf")])
    h = cpu_histograms([(x, 32, "minmax", None)])[0]
    edges, counts = _numpy(x, 32)
    assert np.array_equal(h.edges, edges) and np.array_equal(h.counts, counts) and h.outside == 3


def test_the_capture_reuses_the_reductions_range_and_equals_numpy() -> None:
    g = torch.Generator().manual_seed(5)
    ts = [torch.randn(300, 200, generator=g), torch.rand(50, generator=g) - 0.5, torch.randn(3, 3, generator=g)]
    plan = TensorPlan(("weights",), ("mean", "abs_max", "max", "min"), False, False, (20, "minmax"))
    cap = StepCapture()
    cap.add([(f"t{i}", plan, t) for i, t in enumerate(ts)])
    for (name, _, _, red, _, _), t in zip(cap.finish((0, "TRAIN", 0)).items(), ts):
        edges, counts = _numpy(t, 20)
        assert np.array_equal(red[HISTOGRAM].edges, edges) and np.array_equal(red[HISTOGRAM].counts, counts), name
        assert red["max"] == float(t.max()) and red["min"] == float(t.min())


def test_the_bins_helpers_agree_with_numpy_on_edges_and_counts() -> None:
    for lo, hi, bins in [(-1.0, 1.0, 64), (0.1, 0.7, 3), (-3e-8, 5.0, 1000), (2.0, 2.0 + 2**-20, 5)]:
        assert np.array_equal(uniform_edges(lo, hi, bins), np.linspace(lo, hi, bins + 1))
    x = torch.linspace(-1, 1, 1001)  # values on most edges of 8 and 100 bins
    for bins in (8, 100):
        edges = uniform_edges(-1.0, 1.0, bins)
        ref = np.histogram(x.double().numpy(), bins=edges)[0]
        assert np.array_equal(exact_counts([x], bins, [(-1.0, 1.0)], [edges])[0], ref)
        assert np.array_equal(cpu_bin_counts(x, bins, -1.0, 1.0, inside=True), ref)


def test_edges_next_to_a_float32_value_are_corrected() -> None:
    # float32 limits whose 100-bin edges 25 and 50 fall within 1e-16 of a float32 value: the
    # float32 just below such an edge gets the upper bin from float64 arithmetic, and is moved
    lo, hi = -0.025252483785152435, 0.0252525731921196
    edges = uniform_edges(lo, hi, 100)
    near = np.concatenate([edges[1:-1].astype(np.float32) + d for d in (-2e-9, 0.0, 2e-9)])
    around = np.nextafter(near, np.float32(-np.inf))
    x = torch.from_numpy(np.concatenate([[lo, hi], near, around, np.nextafter(near, np.float32(np.inf))]).astype(np.float32))
    x = x[(x >= lo) & (x <= hi)]
    ref = np.histogram(x.double().numpy(), bins=edges)[0]
    assert np.array_equal(exact_counts([x], 100, [(lo, hi)], [edges])[0], ref)
    assert np.array_equal(cpu_histogram(x, 100, "minmax").counts, ref)


@pytest.mark.parametrize("bins", [255, 256, 300, 4096])
def test_byte_and_int32_bins_and_many_edge_rows_equal_numpy(bins: int) -> None:
    # 255 bins: uint8 bins with the upper-edge slot at 255; from 256 on: int32 bins offset per
    # tensor, one bincount; edges from one array (uniform_edges_many) equal np.linspace's
    xs = [CASES["randn 256x784"], CASES["uniform weights with zeros"], CASES["wide scale"], CASES["values next to edges"]]
    got = cpu_histograms([(x, bins, "minmax", None) for x in xs])
    for x, h in zip(xs, got):
        edges, counts = _numpy(x, bins)
        assert np.array_equal(h.edges, edges) and np.array_equal(h.counts, counts), (bins, h.counts - counts)
    limits = [(-1.0, 1.0), (0.1, 0.7), (-3e-8, 5.0), (2.0, 2.0 + 2**-20)]
    many = uniform_edges_many(limits, bins)
    for row, (lo, hi) in zip(many, limits):
        assert np.array_equal(row, np.linspace(lo, hi, bins + 1))


def test_tensors_needing_nudges_and_windows_are_counted_with_the_others() -> None:
    # a batch where some tensors fit the plain scale and others need a nudge or a moved window:
    # each tensor's counts are its own numpy counts
    lo, hi = -0.025252483785152435, 0.0252525731921196
    edges = uniform_edges(lo, hi, 100)
    near = np.concatenate([edges[1:-1].astype(np.float32) + d for d in (-2e-9, 0.0, 2e-9)])
    x = torch.from_numpy(np.concatenate([[lo, hi], near, np.nextafter(near, np.float32(-np.inf))]).astype(np.float32))
    x = x[(x >= lo) & (x <= hi)]
    xs = [CASES["randn 256x784"], x, CASES["integer-valued floats"], x * 3, CASES["uniform weights with zeros"]]
    got = cpu_histograms([(t, 100, "minmax", None) for t in xs])
    for t, h in zip(xs, got):
        ref_edges, counts = _numpy(t, 100)
        assert np.array_equal(h.edges, ref_edges) and np.array_equal(h.counts, counts)


def test_chunks_and_packed_blocks_equal_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    # small chunks and blocks: a large tensor in many chunks, small ones in several packed blocks
    monkeypatch.setattr(_bins, "_CHUNK", 1000)
    monkeypatch.setattr(_bins, "_SMALL", 700)
    g = torch.Generator().manual_seed(11)
    xs = [torch.randn(n, generator=g) * (i + 1) for i, n in enumerate([5000, 650, 10, 699, 300, 700, 2, 640, 999])]
    for bins in (64, 300):
        for x, h in zip(xs, cpu_histograms([(x, bins, "minmax", None) for x in xs])):
            edges, counts = _numpy(x, bins)
            assert np.array_equal(h.edges, edges) and np.array_equal(h.counts, counts), (bins, x.numel())


@pytest.mark.parametrize("n", [1, 3, 4, 4095, 4096, 4097, 8195, 20_001])
def test_block_and_row_remainders_equal_numpy(n: int, kernel: str) -> None:
    # the compiled loop works in blocks of 4096 values and rows of 4: every remainder counts
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n + 1, generator=g)  # at least two values: a range that is not a constant's
    for bins in (64, 254, 255, 1000):
        h = cpu_histograms([(x, bins, "minmax", None)])[0]
        edges, counts = _numpy(x, bins)
        assert np.array_equal(h.counts, counts), (kernel, bins)



def test_the_values_on_both_sides_of_every_edge_of_many_ranges(kernel: str) -> None:
    # for random float32 limits (many need a nudged scale or a window): the float32 values at
    # each edge rounded up, and the ones just below, are counted in numpy's bins
    g = np.random.default_rng(4)
    for _ in range(60):
        lo, hi = sorted(map(float, g.standard_normal(2).astype(np.float32)))
        for bins in (7, 64, 300):
            edges = uniform_edges(lo, hi, bins)
            up = edges.astype(np.float32)
            up[up < edges] = np.nextafter(up[up < edges], np.float32(np.inf))
            a = np.concatenate([[lo, hi], up, np.nextafter(up, np.float32(-np.inf))]).astype(np.float32)
            x = torch.from_numpy(a[(a >= lo) & (a <= hi)])
            got = exact_counts([x], bins, [(lo, hi)], [edges])[0]
            assert np.array_equal(got, np.histogram(x.double().numpy(), bins=edges)[0]), (kernel, lo, hi, bins)
