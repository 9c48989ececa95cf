"""The stable plugin import (handlers/api.py, issue 17 part 5): what it offers can only grow
within a major version, and a plugin can require the version it was written against."""

import pytest

import handlers.api as api

# The API of version 1.0. Adding a name here is a minor version; removing one is a major one.
API_1_0 = {
    "API_VERSION",
    "BadRequest",
    "Conflict",
    "Context",
    "EVENTS",
    "EmptySchema",
    "Forbidden",
    "Handler",
    "HubbubError",
    "MessageRejected",
    "NotFound",
    "OutgoingMessage",
    "PayloadTooLarge",
    "RateLimited",
    "Reply",
    "ServiceUnavailable",
    "TimedOut",
    "Unauthorized",
    "ValidationFailed",
    "require_api",
}


def test_every_name_of_the_api_is_still_there_and_importable():
    assert API_1_0 <= set(api.__all__), f"removed from the plugin API: {sorted(API_1_0 - set(api.__all__))}"
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_a_name_added_to_the_api_is_listed_here_too():
    assert set(api.__all__) <= API_1_0, f"new in the plugin API, list it above (a minor version): {sorted(set(api.__all__) - API_1_0)}"


@pytest.mark.parametrize("version", ["1", "1.0"])
def test_a_plugin_written_for_this_version_loads(version):
    api.require_api(version)


@pytest.mark.parametrize("version", ["1.1", "2.0", "0.9"])
def test_a_plugin_written_for_a_newer_minor_or_another_major_is_refused(version):
    with pytest.raises(ImportError, match=f"needs Hubbub plugin API {version}"):
        api.require_api(version)


def test_the_api_objects_are_the_ones_the_server_uses():
    from handlers.base import Handler
    from handlers.errors import NotFound

    assert api.Handler is Handler and api.NotFound is NotFound
