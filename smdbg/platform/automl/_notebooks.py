"""The two generated notebooks (nbformat): data exploration, and candidate definitions with re-run cells.

Both read the job's own files (``data/input.pkl``, ``analysis.json``, ``candidates.json``), so
they run anywhere the job folder and smdbg are. Plots use matplotlib's Agg backend and are shown
as PNG files written next to the notebook.
"""

from __future__ import annotations

import pprint
from pathlib import Path
from typing import Any

from ._space import FEATURE_SPACE, SEARCH_SPACES
from ._views import NotebookJob

__all__ = ["write_notebooks", "EXPLORATION_NOTEBOOK", "CANDIDATES_NOTEBOOK"]

EXPLORATION_NOTEBOOK = "SageMakerAutopilotDataExplorationNotebook.ipynb"
CANDIDATES_NOTEBOOK = "SageMakerAutopilotCandidateDefinitionNotebook.ipynb"
_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _notebook(cells: list[tuple[str, str]]) -> Any:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(_KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in cells:
        cell = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        nb.cells.append(cell)
    return nb


def _exploration(r: NotebookJob) -> list[tuple[str, str]]:
    a = r.analysis
    dropped = ", ".join(f"`{k}` ({v})" for k, v in a["dropped_columns"].items()) or "none"
    leaks = "\n".join(f"- `{w['column']}`: {w['reason']}" for w in a["leakage_warnings"]) or "- none found"
    return [
        (
            "md",
            f"# Data exploration: `{r.job_name}`\n\nTarget column `{r.target}`, problem type "
            f"**{r.problem_type}**, objective **{r.objective.name}** ({r.objective.direction}).\n\n"
            f"{a['n_rows']} rows, {a['n_features']} feature columns, {a['duplicate_rows']} duplicate rows. "
            f"Columns dropped before training: {dropped}.",
        ),
        (
            "code",
            "import json\nfrom pathlib import Path\n\nimport matplotlib\nmatplotlib.use('Agg')\n"
            "import matplotlib.pyplot as plt\nimport pandas as pd\nfrom IPython.display import Image, display\n\n"
            f"JOB_DIR = Path({str(r.job_dir.resolve())!r})\nTARGET = {r.target!r}\n"
            "PLOTS = JOB_DIR / 'notebooks' / 'plots'\nPLOTS.mkdir(parents=True, exist_ok=True)\n"
            "frame = pd.read_pickle(JOB_DIR / 'data' / 'input.pkl')\n"
            "analysis = json.loads((JOB_DIR / 'analysis.json').read_text())\n"
            "frame.shape",
        ),
        ("md", "## Columns\nKind, missing values and cardinality of every feature column."),
        (
            "code",
            "columns = pd.DataFrame(analysis['columns']).T\n"
            "columns[['dtype', 'kind', 'missing', 'missing_fraction', 'n_unique']]",
        ),
        ("md", "## Missing values"),
        (
            "code",
            "missing = columns['missing_fraction'].astype(float)\nmissing = missing[missing > 0]\n"
            "if missing.empty:\n    print('no missing values')\nelse:\n"
            "    fig, ax = plt.subplots(figsize=(6, 0.3 * len(missing) + 1))\n"
            "    missing.sort_values().plot.barh(ax=ax)\n    ax.set_xlabel('fraction missing')\n"
            "    fig.savefig(PLOTS / 'missing.png', bbox_inches='tight')\n    plt.close(fig)\n"
            "    display(Image(filename=str(PLOTS / 'missing.png')))",
        ),
        ("md", "## Target\nDistribution of the target (class balance for classification)."),
        (
            "code",
            "print(json.dumps(analysis['target'], indent=1))\nfig, ax = plt.subplots(figsize=(6, 3))\n"
            f"if {r.problem_type == 'Regression'}:\n    frame[TARGET].plot.hist(bins=30, ax=ax)\n"
            "else:\n    frame[TARGET].astype(str).value_counts().plot.bar(ax=ax)\n"
            "ax.set_title(TARGET)\nfig.savefig(PLOTS / 'target.png', bbox_inches='tight')\nplt.close(fig)\n"
            "display(Image(filename=str(PLOTS / 'target.png')))",
        ),
        ("md", "## Numeric features\nHistograms of up to twelve numeric columns."),
        (
            "code",
            "numeric = [c for c, k in analysis['feature_kinds'].items() if k == 'numeric'][:12]\n"
            "if numeric:\n    axes = frame[numeric].astype(float).hist(bins=20, figsize=(12, 2.5 * ((len(numeric) + 3) // 4)), "
            "layout=((len(numeric) + 3) // 4, 4))\n"
            "    fig = axes.flat[0].figure\n    fig.savefig(PLOTS / 'numeric.png', bbox_inches='tight')\n"
            "    plt.close(fig)\n    display(Image(filename=str(PLOTS / 'numeric.png')))\n"
            "else:\n    print('no numeric columns')",
        ),
        (
            "md",
            "## Leakage-like columns\nColumns that predict the target (almost) perfectly are often "
            f"copies of the label or computed from it. Check them before trusting the scores:\n\n{leaks}",
        ),
        ("code", "pd.DataFrame(analysis['leakage_warnings'], columns=['column', 'reason'])"),
    ]


def _candidates(r: NotebookJob) -> list[tuple[str, str]]:
    a = r.automl
    o = a.options
    ranges = []
    for algorithm in o["algorithms"]:
        lines = "\n".join(f"- `{k}`: {v.describe()}" for k, v in SEARCH_SPACES[algorithm].items())
        ranges.append(f"### `{algorithm}`\n{lines}")
    feature_lines = "\n".join(f"- `{k}`: {v.describe()}" for k, v in FEATURE_SPACE.items())
    cells: list[tuple[str, str]] = [
        (
            "md",
            f"# Candidate definitions: `{r.job_name}`\n\nEach candidate is a scikit-learn Pipeline: "
            "preprocessing (imputation, one-hot or target encoding, scaling for linear models and MLPs) "
            "then one algorithm. The search samples the ranges below with Optuna's TPE sampler within "
            "the job's time budget; the cells at the end re-run it.",
        ),
        (
            "code",
            "import json\nfrom datetime import datetime\nfrom pathlib import Path\n\nimport pandas as pd\n\n"
            "from smdbg.platform.automl import AutoML, build_pipeline\n\n"
            f"JOB_DIR = Path({str(r.job_dir.resolve())!r})\nDATA = JOB_DIR / 'data' / 'input.pkl'\n"
            f"TARGET = {r.target!r}\nPROBLEM_TYPE = {r.problem_type!r}\nOBJECTIVE = {r.objective.name!r}\n"
            f"FEATURE_KINDS = {pprint.pformat(r.feature_kinds)}\nALGORITHMS = {list(o['algorithms'])!r}\n"
            f"RERUN_BUDGET_SECONDS = {a.total_job_runtime_in_seconds!r}\n"
            f"RERUN_MAX_CANDIDATES = {a.max_candidates!r}\nTRACKER_DB_URL = {o['tracker_db_url']!r}\n"
            f"OUTPUT_PATH = {str(a.output_path.resolve())!r}",
        ),
        ("md", "## Search space\n\n" + "\n\n".join(ranges) + "\n\n### Preprocessing\n" + feature_lines),
        (
            "md",
            "## Leaderboard\nEvery candidate of the job, best first (failed ones last, with their reason).",
        ),
        (
            "code",
            "board = pd.DataFrame(json.loads((JOB_DIR / 'candidates.json').read_text()))\n"
            "board['Value'] = [m['Value'] for m in board['FinalAutoMLJobObjectiveMetric']]\n"
            f"board = board.sort_values('Value', ascending={not r.objective.maximize}, na_position='last')\n"
            "board[['CandidateName', 'CandidateStatus', 'Value', 'FailureReason']]",
        ),
    ]
    done = [c for c in r.candidates if c.status == "Completed" and c.members is None]
    done.sort(key=lambda c: c.objective_value or 0.0, reverse=r.objective.maximize)
    for c in done[:5]:
        cells.append(("md", f"### `{c.name}`: {r.objective.name} = {c.objective_value:.5g}"))
        cells.append(
            (
                "code",
                f"spec = {pprint.pformat(c.spec)}\nbuild_pipeline(spec, FEATURE_KINDS, PROBLEM_TYPE)",
            )
        )
    cells += [
        (
            "md",
            "## Re-run the search\nEdit the settings above (budget, algorithms) and run these cells; "
            "the new job is written next to this one.",
        ),
        (
            "code",
            "automl = AutoML(TARGET, problem_type=PROBLEM_TYPE, job_objective=OBJECTIVE,\n"
            "                max_candidates=RERUN_MAX_CANDIDATES, total_job_runtime_in_seconds=RERUN_BUDGET_SECONDS,\n"
            "                output_path=OUTPUT_PATH, algorithms=ALGORITHMS, tracker_db_url=TRACKER_DB_URL,\n"
            "                generate_notebooks=False)\n"
            f"automl.fit(pd.read_pickle(DATA), job_name={r.job_name + '-rerun-'!r} + datetime.now().strftime('%H%M%S%f'), logs=False)\n"
            "automl.describe_auto_ml_job()['AutoMLJobStatus']",
        ),
        (
            "code",
            "pd.DataFrame([{'name': c['CandidateName'], 'status': c['CandidateStatus'],\n"
            "               'value': c['FinalAutoMLJobObjectiveMetric']['Value']} for c in automl.list_candidates()])",
        ),
    ]
    return cells


def write_notebooks(r: NotebookJob) -> dict[str, str]:
    """Write both notebooks into ``<job>/notebooks/``; returns their paths by kind."""
    import nbformat

    folder = r.job_dir / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for kind, filename, cells in (
        ("exploration", EXPLORATION_NOTEBOOK, _exploration(r)),
        ("candidates", CANDIDATES_NOTEBOOK, _candidates(r)),
    ):
        path = Path(folder / filename)
        nbformat.write(_notebook(cells), str(path))
        paths[kind] = str(path)
    return paths
