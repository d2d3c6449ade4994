"""The one table of SageMaker SDK arguments (smdbg._sdk_args): renames warn, AWS-only arguments are
kept aside, anything else is refused with its name."""

from __future__ import annotations

import warnings

import pytest

from smdbg import SmdbgError
from smdbg._sdk_args import AWS_ONLY, ESTIMATOR_RENAMES, RENAMED, SdkArgumentError, sdk_kwargs


def test_renamed_argument_warns_like_the_sdk_and_moves_to_its_v2_name() -> None:
    with pytest.warns(DeprecationWarning, match="train_instance_count has been renamed in sagemaker>=2") as rec:
        sdk = sdk_kwargs("Estimator", {"train_instance_count": 3}, ESTIMATOR_RENAMES)
    assert rec[0].filename == __file__  # the warning points at the caller, not at smdbg
    assert sdk.values == {"instance_count": 3}
    assert sdk.pick("instance_count", 1, 1) == 3  # the class's own default is overridden
    assert sdk.pick("instance_type", "local", "local") == "local"  # not renamed: unchanged


def test_old_and_new_spelling_with_different_values_is_refused() -> None:
    with pytest.warns(DeprecationWarning):
        sdk = sdk_kwargs("Estimator", {"train_instance_type": "ml.m5.large"}, ESTIMATOR_RENAMES)
    with pytest.raises(SdkArgumentError, match=r"train_instance_type='ml.m5.large' and instance_type='ml.c5.large'"):
        sdk.pick("instance_type", "ml.c5.large", "local")
    assert sdk.pick("instance_type", "ml.m5.large", "local") == "ml.m5.large"  # the same value twice is fine


def test_aws_only_arguments_are_kept_and_unknown_ones_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # AWS-only arguments do not warn
        sdk = sdk_kwargs("Model", {"role": "arn:aws:iam::1:role/x", "sagemaker_session": object(), "vpc_config": {}})
    assert set(sdk.values) == {"role", "sagemaker_session", "vpc_config"}
    assert sdk.get("vpc_config", None) == {}
    with pytest.raises(SdkArgumentError, match=r"Model\(\) got an unexpected keyword argument 'instance_cuont'") as e:
        sdk_kwargs("Model", {"instance_cuont": 1})
    assert isinstance(e.value, TypeError) and isinstance(e.value, SmdbgError)


def test_a_v1_spelling_the_class_does_not_take_is_refused_with_a_hint() -> None:
    with pytest.raises(SdkArgumentError, match="SDK v1 spelling of instance_count, which Processor does not take"):
        sdk_kwargs("Processor", {"train_instance_count": 2})


def test_every_rename_targets_a_name_the_classes_handle() -> None:
    own = {"instance_count", "instance_type", "image_uri"}  # Estimator parameters of its own
    assert {new for new in RENAMED.values()} <= own | set(AWS_ONLY)
    assert all(old.startswith("train_") or old == "image_name" for old in RENAMED)
