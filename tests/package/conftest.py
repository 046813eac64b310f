"""tests/package tells one story in steps, the tests that share the throwaway root (install,
run, upgrade, remove, purge): once a step fails or errors, the later ones are skipped rather
than failed on the wreck it left."""
import pytest


def _is_step(item):
    return "root" in getattr(item, "fixturenames", ())


def pytest_runtest_makereport(item, call):
    if (_is_step(item) and call.when in ("setup", "call") and call.excinfo is not None
            and not call.excinfo.errisinstance(pytest.skip.Exception)):
        item.module._failed_step = item.name


def pytest_runtest_setup(item):
    failed = getattr(item.module, "_failed_step", None)
    if _is_step(item) and failed:
        pytest.skip(f"an earlier step failed: {failed}")
