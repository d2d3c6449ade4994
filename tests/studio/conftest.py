"""Studio test fixtures: a tracker database with a small experiment, the studio served on a free
127.0.0.1 port (``studio``), and a page of Debian's Chromium driven by Playwright (``page``),
closed after each test. The browser itself is started once per module (``browser``).

``make_studio(**create_app_kwargs)`` starts another studio (e.g. with a token) that is stopped at
the end of the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smdbg.tracker import close_all, get_backend
from smdbg.tracker._records import ComponentRecord, ExperimentRecord, MetricBatch, TrialRecord

CHROMIUM = "/usr/bin/chromium"
T0 = 1_700_000_000.0


def fill_tracker(db_url: str) -> None:
    """Experiment ``mnist`` with trials ``lr-sweep`` (6 components) and ``opt-check`` (2), and an
    empty experiment ``empty``. Component ``run-<i>`` has lr = 10**-(i % 3 + 1), opt sgd/adam,
    loss = 1/(1 + lr*step*...) over 40 steps, acc over 10 steps; run-5 failed."""
    b = get_backend(db_url)
    b.create_experiment(ExperimentRecord("mnist", "MNIST", "digits", {}, T0))
    b.create_experiment(ExperimentRecord("empty", "empty", "nothing in it", {}, T0 + 1))
    names = []
    for i in range(8):
        name = f"run-{i}"
        names.append(name)
        status = "Failed" if i == 5 else "Completed"
        start = T0 + 100 * i
        b.create_component(ComponentRecord(name, name, status, None, start, start + 50 + i, start, start))
        lr = 10.0 ** -(i % 3 + 1)
        steps = np.arange(40)
        loss = 2.0 / (1.0 + lr * 10 * steps) + 0.01 * i
        acc = 0.5 + 0.04 * i + 0.001 * np.arange(10)
        b.write(
            name,
            parameters={"lr": lr, "opt": "sgd" if i % 2 == 0 else "adam", "batch": 32 * (1 + i % 2)},
            metrics=[
                MetricBatch("loss", loss, start + steps * 1.5, steps),
                MetricBatch("acc", acc, start + np.arange(10) * 6.0, np.arange(10) * 4),
            ],
        )
    b.create_trial(TrialRecord("lr-sweep", "mnist", "lr sweep", {}, T0 + 2), names[:6])
    b.create_trial(TrialRecord("opt-check", "mnist", "opt check", {}, T0 + 3), names[6:])


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('studio') / 'tracker.db'}"
    fill_tracker(url)
    yield url
    close_all()


@pytest.fixture(scope="module")
def studio(db_url: str) -> Iterator[Any]:
    """The studio on a free 127.0.0.1 port, over the module's tracker database."""
    from smdbg.studio import serve

    handle = serve(port=0, tracker_db_url=db_url)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture()
def make_studio(db_url: str) -> Iterator[Callable[..., Any]]:
    from smdbg.studio import serve

    started: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("tracker_db_url", db_url)
        handle = serve(port=0, **kwargs)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, started once per module and closed after it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing; install Debian's chromium package")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (its own context: no cookies shared between tests), closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20_000)
    try:
        yield p
    finally:
        context.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
