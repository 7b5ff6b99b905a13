"""Fixtures every test package shares. Shared fixtures of one area live in
tests/fixtures/<area>.py and are listed in pytest_plugins below."""

pytest_plugins = [
    "tests.fixtures.etcd",
    "tests.fixtures.etcd_cluster",
    "tests.fixtures.captures",
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
