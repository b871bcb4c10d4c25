"""Settings: defaults, every bad value named, unknown variables reported, docs complete."""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import pytest

from cio_pipeline.producer.errors import SettingsError, UnknownSettingWarning
from cio_pipeline.producer.regions import Regions
from cio_pipeline.producer.settings import KNOWN_VARIABLES, Settings, check_region
from cio_pipeline.producer.variables import VARIABLES
from cio_pipeline.worker.core.settings import WorkerSettings

EXAMPLE_ENV = Path(__file__).resolve().parents[2] / "config" / "example.env"


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        redis_url="redis://127.0.0.1:6379/0", queue_prefix="cio", partitions=8, redis_timeout_s=1.0
    )


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://h:1/2",
            "CIO_QUEUE_PREFIX": "app-1",
            "CIO_PARTITIONS": "16",
            "CIO_REDIS_TIMEOUT_S": "0.25",
        }
    )
    assert (settings.redis_url, settings.queue_prefix, settings.partitions) == (
        "redis://h:1/2",
        "app-1",
        16,
    )
    assert settings.redis_timeout_s == 0.25


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CIO_PARTITIONS": "eight"}, "CIO_PARTITIONS"),
        ({"CIO_PARTITIONS": "0"}, "CIO_PARTITIONS"),
        ({"CIO_PARTITIONS": "5000"}, "CIO_PARTITIONS"),
        ({"CIO_REDIS_TIMEOUT_S": "-1"}, "CIO_REDIS_TIMEOUT_S"),
        ({"CIO_REDIS_TIMEOUT_S": "nan"}, "CIO_REDIS_TIMEOUT_S"),
        ({"CIO_REDIS_TIMEOUT_S": "soon"}, "CIO_REDIS_TIMEOUT_S"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"CIO_QUEUE_PREFIX": "a b"}, "CIO_QUEUE_PREFIX"),
        ({"CIO_QUEUE_PREFIX": "{cio}"}, "CIO_QUEUE_PREFIX"),  # no Cluster hash tags
        ({"REDIS_URL": "redis://h:99999/0"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://h:6379/zero"}, "REDIS_URL"),
        ({"CIO_PARTITONS": "8"}, "CIO_PARTITONS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env, strict=True)


def test_unknown_variable_suggests_the_right_one() -> None:
    with pytest.raises(SettingsError, match="did you mean CIO_PARTITIONS"):
        Settings.from_env({"CIO_PARTITONS": "8"}, strict=True)
    with pytest.raises(SettingsError, match="did you mean CIO_PARTITIONS"):
        WorkerSettings.from_env({"CIO_PARTITONS": "8"})


def test_the_producer_warns_once_about_unknown_variables_and_goes_on() -> None:
    env = {"CIO_SITE_ID_FOR_H6_TEST": "x", "CUSTOMERIO_PARTNER_H6": "y", "CIO_PARTITIONS": "4"}
    with pytest.warns(UnknownSettingWarning) as caught:
        settings = Settings.from_env(env)
    assert settings.partitions == 4
    (warning,) = caught
    assert "CIO_SITE_ID_FOR_H6_TEST" in str(warning.message)
    assert "CUSTOMERIO_PARTNER_H6" in str(warning.message)
    assert warning.filename == __file__  # points at the caller, not into the producer
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second time: nothing (once per variable)
        Settings.from_env(env)


def test_a_region_the_workers_do_not_use_is_refused() -> None:
    check_region(Regions.US, {})  # the default: always
    check_region(Regions.US, {"CUSTOMERIO_REGION": "eu"})
    check_region(Regions.EU, {"CUSTOMERIO_REGION": "eu"})
    with pytest.raises(SettingsError, match=r"CUSTOMERIO_REGION=eu for the workers"):
        check_region(Regions.EU, {})
    with pytest.raises(SettingsError, match=r"CUSTOMERIO_REGION is 'us'"):
        check_region(Regions.EU, {"CUSTOMERIO_REGION": "us"})


def test_password_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"REDIS_URL": "http://user:hunter2@host"})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CUSTOMERIO_REGION": "asia"}, "CUSTOMERIO_REGION"),
        ({"CUSTOMERIO_TRACK_URL": "track.customer.io"}, "CUSTOMERIO_TRACK_URL"),
        ({"CIO_TRACK_RATE": "0"}, "CIO_TRACK_RATE"),
        ({"CIO_MAX_ATTEMPTS": "0"}, "CIO_MAX_ATTEMPTS"),
        ({"CIO_SEND_AT_LEAST_ONCE": "maybe"}, "CIO_SEND_AT_LEAST_ONCE"),
        ({"CIO_BATCH_MAX_BYTES": "600000"}, "CIO_BATCH_MAX_BYTES"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_worker_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        WorkerSettings.from_env(env)


def test_worker_region_hosts_and_overrides() -> None:
    eu = WorkerSettings.from_env({"CUSTOMERIO_REGION": "EU"})
    assert eu.track_base_url == "https://track-eu.customer.io"
    assert eu.app_base_url == "https://api-eu.customer.io"
    local = WorkerSettings.from_env(
        {"CUSTOMERIO_TRACK_URL": "http://127.0.0.1:8025/", "CUSTOMERIO_APP_URL": "http://h:1"}
    )
    assert local.track_base_url == "http://127.0.0.1:8025"
    assert local.app_base_url == "http://h:1"


def test_credentials_are_not_in_repr() -> None:
    settings = WorkerSettings.from_env(
        {"CUSTOMERIO_SITE_ID": "site-secret", "CUSTOMERIO_API_KEY": "key-secret"}
    )
    assert "secret" not in repr(settings)


def test_example_env_documents_exactly_the_known_variables() -> None:
    text = EXAMPLE_ENV.read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert documented == set(KNOWN_VARIABLES)


def test_example_env_shows_the_declared_defaults() -> None:
    text = EXAMPLE_ENV.read_text()
    shown = dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))
    for variable in VARIABLES:
        if variable.default is not None:  # optional ones show an example value instead
            value = variable.read({variable.name: shown[variable.name]})
            assert value == variable.default, variable.name


def test_every_declared_variable_is_read_by_a_settings_field() -> None:
    bound = {
        f.metadata["env"]
        for cls in (Settings, WorkerSettings)
        for f in dataclasses.fields(cls)
        if "env" in f.metadata
    }
    assert bound == {v.name for v in VARIABLES}
