"""The stable plugin import (handlers/api.py, issue 17 part 5): what it offers can only grow
within a major version, and a plugin can require the version it was written against."""

import subprocess
import sys

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

# 1.1: lifecycle events (issue 17 part 3), REST routes (part 4), the transaction type.
API_1_1 = API_1_0 | {
    "CONVERSATION_CREATED",
    "CONVERSATION_DELETED",
    "CONVERSATION_UPDATED",
    "Connection",
    "LIFECYCLE_EVENTS",
    "LifecycleContext",
    "MEMBER_ADDED",
    "MEMBER_REMOVED",
    "MESSAGE_EDITED",
    "MESSAGE_RECALLED",
    "MESSAGE_STORED",
    "PluginRequest",
    "PluginRoutes",
    "RequestContext",
    "Subscriber",
    "USER_CONNECTED",
    "USER_DISCONNECTED",
}
# 1.2: lifecycle events for a member's role and the group's owner.
API_1_2 = API_1_1 | {
    "CONVERSATION_OWNER_CHANGED",
    "MEMBER_ROLE_CHANGED",
}
# 1.3: lifecycle events for a user's profile and the deletion of their account.
API_1_3 = API_1_2 | {
    "USER_DELETED",
    "USER_UPDATED",
}
# 1.4: a transaction run again when MySQL/MariaDB rolls it back for a conflict.
API_1_4 = API_1_3 | {
    "in_transaction",
}
CURRENT = API_1_4


def test_every_name_of_the_api_is_still_there_and_importable():
    assert CURRENT <= set(api.__all__), f"removed from the plugin API: {sorted(CURRENT - set(api.__all__))}"
    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_a_name_added_to_the_api_is_listed_here_too():
    assert set(api.__all__) <= CURRENT, f"new in the plugin API, list it above (a minor version): {sorted(set(api.__all__) - CURRENT)}"
    assert api.API_VERSION == "1.4"


@pytest.mark.parametrize("version", ["1", "1.0", "1.1", "1.2", "1.3", "1.4"])
def test_a_plugin_written_for_this_version_loads(version):
    api.require_api(version)


@pytest.mark.parametrize("version", ["1.5", "2.0", "0.9"])
def test_a_plugin_written_for_a_newer_minor_or_another_major_is_refused(version):
    with pytest.raises(ImportError, match=f"needs Hubbub plugin API {version}"):
        api.require_api(version)


def test_the_api_objects_are_the_ones_the_server_uses():
    from handlers.base import Handler
    from handlers.errors import NotFound
    from storage.transactions import in_transaction

    assert api.Handler is Handler and api.NotFound is NotFound and api.in_transaction is in_transaction


def test_the_fixtures_types_come_from_the_api_without_pytest_at_run_time():
    """Importing handlers.api (a serving process) loads no test code; asking for a fixture's
    type (a plugin's test) gives the class its fixture yields."""
    from server import testing

    loads = "import sys, handlers.api; print('server.testing' in sys.modules, 'pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", loads], capture_output=True, text=True, check=True).stdout.split() == ["False", "False"]
    for name in api.TESTING_NAMES:
        assert getattr(api, name) is getattr(testing, name), name
        assert name not in api.__all__, name
    with pytest.raises(AttributeError):
        api.HubbubNothing  # noqa: B018 - the lookup is the test
