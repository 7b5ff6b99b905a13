"""Fixtures every test package shares. Shared fixtures of one area live in
tests/fixtures/<area>.py and are listed in pytest_plugins below."""

import os

from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.etcd",
    "tests.fixtures.etcd_cluster",
    "tests.fixtures.captures",
    "tests.fixtures.trust",  # before the fixtures that import it
    "tests.fixtures.central",
    "tests.fixtures.tls",
    "tests.fixtures.query",
    "tests.fixtures.ops",
    "tests.fixtures.traveltime",
    "tests.fixtures.agent",
    "tests.fixtures.sim",
    "tests.fixtures.serial_board",
    "tests.fixtures.bluez",
]

# property tests: bounded in `make test`, long runs with `make fuzz` (HYPOTHESIS_PROFILE=fuzz)
settings.register_profile("test", max_examples=200, deadline=None, database=None)
settings.register_profile("fuzz", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "test"))
