"""Instance types as Ray placement-group bundles (no cluster needed)."""

from __future__ import annotations

from smdbg.platform.jobs import resolve_instance_type
from smdbg.platform.jobs._raycluster import describe_resources


def test_instance_types_become_bundles() -> None:
    assert resolve_instance_type("local").ray_bundle() == {"CPU": 1.0}
    assert resolve_instance_type("ml.m5.xlarge").ray_bundle() == {"CPU": 4.0, "memory": 16.0 * 1024**3}
    gpu = resolve_instance_type("ml.g5.xlarge")
    assert gpu.ray_bundle()["GPU"] == 1.0
    # a cluster that labels its nodes with the type's name gets the hosts on those nodes
    assert gpu.ray_bundle({"CPU": 64.0, "ml.g5.xlarge": 2.0})["ml.g5.xlarge"] == 1.0
    assert "ml.g5.xlarge" not in gpu.ray_bundle({"CPU": 64.0, "ml.c5.xlarge": 2.0})


def test_resources_read_as_people_read_them() -> None:
    text = describe_resources(
        {"CPU": 4.0, "memory": 8 * 1024**3, "node:10.0.0.1": 1.0, "object_store_memory": 1e8}
    )
    assert text == "{CPU=4, memory=8.0GiB}"
