"""Experiments, trials, trial components and Search, on :mod:`smdbg.tracker` (its database is
``SMDBG_TRACKER_URL`` of the server's environment, as for every smdbg process).

Each handler is one call of the tracker's Python API (``Experiment.update``, ``Trial.update``,
``TrialComponent.save`` with its ``*_to_remove`` lists, ...), whose errors map to the API's:
a missing name is ``ResourceNotFound``, a taken one ``ResourceInUse``, a bad value
``ValidationException``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from smdbg.platform.api._protocol import InUse, NotFound, ValidationError
from smdbg.platform.api._registry import Context, operation, page
from smdbg.platform.api._state import arn

__all__: list[str] = []


@contextlib.contextmanager
def _tracker_errors() -> Iterator[None]:
    from smdbg.tracker import AlreadyExistsError, InvalidValueError, NotFoundError, TrackerError

    try:
        yield
    except AlreadyExistsError as e:
        raise InUse(str(e)) from None
    except NotFoundError as e:
        raise NotFound(str(e).strip("'\"")) from None
    except (InvalidValueError, TrackerError, ValueError) as e:
        raise ValidationError(str(e)) from None


def _tags(p: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in p.get("Tags") or []}


def _experiment_doc(e: Any) -> dict[str, Any]:
    return {"ExperimentName": e.experiment_name, "ExperimentArn": arn("experiment", e.experiment_name),
            "DisplayName": e.display_name, "Description": e.description, "CreationTime": e.creation_time,
            "LastModifiedTime": e.last_modified_time, "Tags": [{"Key": k, "Value": v} for k, v in e.tags.items()]}  # fmt: skip


def _trial_doc(t: Any) -> dict[str, Any]:
    return {"TrialName": t.trial_name, "TrialArn": arn("experiment-trial", t.trial_name), "DisplayName": t.display_name,
            "ExperimentName": t.experiment_name, "CreationTime": t.creation_time, "LastModifiedTime": t.last_modified_time}  # fmt: skip


def _component_doc(c: Any) -> dict[str, Any]:
    def param(v: Any) -> dict[str, Any]:
        return (
            {"NumberValue": v}
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else {"StringValue": str(v)}
        )

    def artifacts(items: dict[str, Any]) -> dict[str, Any]:
        return {
            k: {"Value": a.value, **({"MediaType": a.media_type} if a.media_type else {})}
            for k, a in items.items()
        }

    name = c.trial_component_name
    return {
        "TrialComponentName": name, "TrialComponentArn": arn("experiment-trial-component", name),
        "DisplayName": c.display_name,
        "Status": {"PrimaryStatus": c.status.primary_status, **({"Message": c.status.message} if c.status.message else {})},
        "StartTime": c.start_time, "EndTime": c.end_time, "CreationTime": c.creation_time,
        "LastModifiedTime": c.last_modified_time,
        "Parameters": {k: param(v) for k, v in c.parameters.items()},
        "InputArtifacts": artifacts(c.input_artifacts), "OutputArtifacts": artifacts(c.output_artifacts),
        "Metrics": [{"MetricName": m.metric_name, "Max": m.max, "Min": m.min, "Last": m.last, "Count": m.count,
                     "Avg": m.avg, "StdDev": m.std_dev} for m in c.metrics],
        "Tags": [{"Key": k, "Value": v} for k, v in c.tags.items()],
        "Parents": [{"TrialName": t, "ExperimentName": e} for t, e in zip(c.trial_names, c.experiment_names)],
    }  # fmt: skip


# -- experiments ---------------------------------------------------------------------------
@operation("CreateExperiment")
def create_experiment(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment

    with _tracker_errors():
        e = Experiment.create(p["ExperimentName"], description=p.get("Description"), tags=_tags(p),
                              display_name=p.get("DisplayName"))  # fmt: skip
    return {"ExperimentArn": arn("experiment", e.experiment_name)}


@operation("DescribeExperiment")
def describe_experiment(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment

    with _tracker_errors():
        return _experiment_doc(Experiment.load(p["ExperimentName"]))


@operation("UpdateExperiment")
def update_experiment(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment

    with _tracker_errors():
        Experiment.load(p["ExperimentName"]).update(display_name=p.get("DisplayName"), description=p.get("Description"))
    return {"ExperimentArn": arn("experiment", p["ExperimentName"])}


@operation("DeleteExperiment")
def delete_experiment(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment

    with _tracker_errors():
        e = Experiment.load(p["ExperimentName"])
        if next(e.list_trials(), None) is not None:
            raise ValidationError(f"experiment {e.experiment_name!r} has trials; delete them first")
        e.delete()
    return {"ExperimentArn": arn("experiment", p["ExperimentName"])}


@operation("ListExperiments")
def list_experiments(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment

    with _tracker_errors():
        docs = [_experiment_doc(e) for e in Experiment.list()]
    rows, token = page(docs, _created(p), name_key="ExperimentName")
    return {"ExperimentSummaries": rows, "NextToken": token}


def _created(p: dict[str, Any]) -> dict[str, Any]:
    """``CreatedAfter``/``CreatedBefore`` (the tracker lists' names) as ``page``'s filters."""
    return {**p, "CreationTimeAfter": p.get("CreatedAfter"), "CreationTimeBefore": p.get("CreatedBefore")}


# -- trials ---------------------------------------------------------------------------------
@operation("CreateTrial")
def create_trial(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment, Trial

    with _tracker_errors():
        Experiment.load(p["ExperimentName"])  # ResourceNotFound, as SageMaker
        t = Trial.create(p["TrialName"], experiment_name=p["ExperimentName"], tags=_tags(p),
                         display_name=p.get("DisplayName"))  # fmt: skip
    return {"TrialArn": arn("experiment-trial", t.trial_name)}


@operation("DescribeTrial")
def describe_trial(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Trial

    with _tracker_errors():
        return _trial_doc(Trial.load(p["TrialName"]))


@operation("UpdateTrial")
def update_trial(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Trial

    with _tracker_errors():
        Trial.load(p["TrialName"]).update(display_name=p.get("DisplayName"))
    return {"TrialArn": arn("experiment-trial", p["TrialName"])}


@operation("DeleteTrial")
def delete_trial(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Trial

    with _tracker_errors():
        Trial.load(p["TrialName"]).delete()
    return {"TrialArn": arn("experiment-trial", p["TrialName"])}


@operation("ListTrials")
def list_trials(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Trial

    with _tracker_errors():
        docs = [_trial_doc(t) for t in Trial.list(p.get("ExperimentName"), p.get("TrialComponentName"))]
    rows, token = page(docs, _created(p), name_key="TrialName")
    return {"TrialSummaries": rows, "NextToken": token}


# -- trial components -------------------------------------------------------------------------
def _apply(c: Any, p: dict[str, Any]) -> None:
    from smdbg.tracker import TrialComponentArtifact, TrialComponentStatus

    if p.get("DisplayName"):
        c.display_name = p["DisplayName"]
    if p.get("Status"):
        c.status = TrialComponentStatus(
            p["Status"].get("PrimaryStatus", c.status.primary_status), p["Status"].get("Message")
        )
    for key, attr in (("StartTime", "start_time"), ("EndTime", "end_time")):
        if p.get(key) is not None:
            import datetime as dt

            setattr(c, attr, dt.datetime.fromtimestamp(float(p[key]), dt.timezone.utc))
    for name, value in (p.get("Parameters") or {}).items():
        c.parameters[name] = value["NumberValue"] if "NumberValue" in value else value.get("StringValue", "")
    for key, attr in (("InputArtifacts", "input_artifacts"), ("OutputArtifacts", "output_artifacts")):
        for name, a in (p.get(key) or {}).items():
            getattr(c, attr)[name] = TrialComponentArtifact(a["Value"], a.get("MediaType"))


@operation("CreateTrialComponent")
def create_trial_component(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import TrialComponent

    with _tracker_errors():
        c = TrialComponent.create(p["TrialComponentName"], display_name=p.get("DisplayName"), tags=_tags(p))
        _apply(c, p)
        c.save()
    return {"TrialComponentArn": arn("experiment-trial-component", c.trial_component_name)}


@operation("DescribeTrialComponent")
def describe_trial_component(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import TrialComponent

    with _tracker_errors():
        doc = _component_doc(TrialComponent.load(p["TrialComponentName"]))
    doc.pop("Tags"), doc.pop("Parents")
    return doc


@operation("UpdateTrialComponent")
def update_trial_component(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import TrialComponent

    removals = {k: list(p.get(f"{k}ToRemove") or ()) for k in ("Parameters", "InputArtifacts", "OutputArtifacts")}
    for key, names in removals.items():
        both = sorted(set(names) & set(p.get(key) or {}))
        if both:
            raise ValidationError(f"{key}ToRemove names {both}, which {key} sets too: set or remove a name, not both")
    with _tracker_errors():
        c = TrialComponent.load(p["TrialComponentName"])
        _apply(c, p)
        c.parameters_to_remove = removals["Parameters"]
        c.input_artifacts_to_remove = removals["InputArtifacts"]
        c.output_artifacts_to_remove = removals["OutputArtifacts"]
        c.save()
    return {"TrialComponentArn": arn("experiment-trial-component", c.trial_component_name)}


@operation("DeleteTrialComponent")
def delete_trial_component(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import TrialComponent

    with _tracker_errors():
        c = TrialComponent.load(p["TrialComponentName"])
        if c.trial_names:
            raise ValidationError(f"trial component {c.trial_component_name!r} is associated with trials "
                                  f"{list(c.trial_names)}; disassociate it first")  # fmt: skip
        c.delete()
    return {"TrialComponentArn": arn("experiment-trial-component", p["TrialComponentName"])}


@operation("ListTrialComponents")
def list_trial_components(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import TrialComponent

    with _tracker_errors():
        docs = [_component_doc(c) for c in TrialComponent.list(p.get("ExperimentName"), p.get("TrialName"))]
    rows, token = page(docs, _created(p), name_key="TrialComponentName")
    keys = ("TrialComponentName", "TrialComponentArn", "DisplayName", "Status", "StartTime", "EndTime",
            "CreationTime", "LastModifiedTime")  # fmt: skip
    return {"TrialComponentSummaries": [{k: r.get(k) for k in keys} for r in rows], "NextToken": token}


def _associate(p: dict[str, Any], on: bool) -> dict[str, Any]:
    from smdbg.tracker import Trial, TrialComponent

    with _tracker_errors():
        TrialComponent.load(p["TrialComponentName"])
        trial = Trial.load(p["TrialName"])
        (trial.add_trial_component if on else trial.remove_trial_component)(p["TrialComponentName"])
    return {"TrialComponentArn": arn("experiment-trial-component", p["TrialComponentName"]),
            "TrialArn": arn("experiment-trial", p["TrialName"])}  # fmt: skip


@operation("AssociateTrialComponent")
def associate_trial_component(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _associate(p, True)


@operation("DisassociateTrialComponent")
def disassociate_trial_component(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return _associate(p, False)


# -- Search ------------------------------------------------------------------------------------
def _flat(doc: dict[str, Any]) -> dict[str, Any]:
    """A document's searchable properties, as SageMaker names them (``Parameters.lr``,
    ``Metrics.loss.Max``, ``Tags.team``, ``Parents.TrialName``, ``CreationTime`` ...)."""
    fields: dict[str, Any] = {k: v for k, v in doc.items() if not isinstance(v, (dict, list))}
    for k in ("CreationTime", "LastModifiedTime", "StartTime", "EndTime"):
        if doc.get(k) is not None and hasattr(doc[k], "timestamp"):
            fields[k] = doc[k].timestamp()
    for name, v in (doc.get("Parameters") or {}).items():
        fields[f"Parameters.{name}"] = v.get("NumberValue", v.get("StringValue"))
    for m in doc.get("Metrics") or []:
        for stat in ("Max", "Min", "Last", "Count", "Avg", "StdDev"):
            fields[f"Metrics.{m['MetricName']}.{stat}"] = m.get(stat)
    for t in doc.get("Tags") or []:
        fields[f"Tags.{t['Key']}"] = t["Value"]
    if doc.get("Status"):
        fields["Status.PrimaryStatus"] = doc["Status"].get("PrimaryStatus")
    for key in ("TrialName", "ExperimentName"):
        fields[f"Parents.{key}"] = [par[key] for par in doc.get("Parents") or []]
    return fields


def _expression(e: dict[str, Any]) -> Any:
    """The request's ``SearchExpression`` as the tracker's (:meth:`SearchExpression.from_dict`)."""
    from smdbg.tracker import SearchExpression

    try:
        return SearchExpression.from_dict(e)
    except (ValueError, TypeError) as err:  # InvalidValueError is a ValueError
        raise ValidationError(f"SearchExpression: {err}") from None


@operation("Search")
def search(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    from smdbg.tracker import Experiment, Trial, TrialComponent
    from smdbg.tracker._search import canonical_field

    resource = p["Resource"]
    with _tracker_errors():
        if resource == "Experiment":
            items = [("Experiment", _experiment_doc(e)) for e in Experiment.list()]
        elif resource == "ExperimentTrial":
            items = [("Trial", _trial_doc(t)) for t in Trial.list()]
        elif resource == "ExperimentTrialComponent":
            items = [("TrialComponent", _component_doc(c)) for c in TrialComponent.list()]
        elif resource == "TrainingJob":
            from smdbg.platform.api._ops_jobs import training_job_docs

            items = [("TrainingJob", d) for d in training_job_docs(ctx)]
        else:
            raise ValidationError(f"Search Resource {resource!r} is not supported; expected Experiment, "
                                  "ExperimentTrial, ExperimentTrialComponent or TrainingJob")  # fmt: skip
        expression = _expression(p["SearchExpression"]) if p.get("SearchExpression") else None
        found = [(k, d) for k, d in items if expression is None or expression.matches(_flat(d))]
    sort_by = canonical_field(p.get("SortBy") or "LastModifiedTime")  # SageMaker's default and case rules
    rows = [{"_key": k, "_sort": _flat(d).get(sort_by), "CreationTime": d.get("CreationTime"), **{"_doc": d}}
            for k, d in found]  # fmt: skip
    if rows and all(r["_sort"] is None for r in rows):  # sorting by it would silently do nothing
        raise ValidationError(f"Search SortBy {p.get('SortBy')!r}: no {resource} found has this property")
    chunk, token = page(rows, {k: p.get(k) for k in ("NextToken", "MaxResults", "SortOrder")}, name_key="_key",
                        sort_keys={"CreationTime": "_sort"}, default_max=50)  # fmt: skip
    return {"Results": [{r["_key"]: r["_doc"]} for r in chunk], "NextToken": token}
