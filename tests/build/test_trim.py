from __future__ import annotations

from onebin.build.trim import EXCLUSIONS, excluded_distributions, excluded_modules


def test_everything_in_the_table_is_trimmed_for_an_app_that_needs_nothing_more():
    assert excluded_modules() == tuple(exclusion.module for exclusion in EXCLUSIONS)
    assert {"yaml", "brotli", "_brotli", "packaging", "pytest", "PyInstaller"} <= set(
        excluded_modules()
    )
    assert {"PyYAML", "Brotli", "watchfiles"} <= excluded_distributions()


def test_what_the_apps_distribution_needs_is_never_trimmed():
    modules = excluded_modules(["pyyaml", "brotli"])
    assert not {"yaml", "brotli", "_brotli"} & set(modules)
    assert {"watchfiles", "unittest", "pytest"} <= set(modules)
    assert "PyYAML" not in excluded_distributions(["PyYAML"])
    assert "watchfiles" in excluded_distributions(["PyYAML"])
