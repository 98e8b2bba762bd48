from __future__ import annotations

import pytest

from onebin.build.plan import app_code_package, app_module, plan_build
from onebin.errors import BuildError


def test_plan_build_of_another_app_leaves_the_items_catalogue_and_template_out():
    plan = plan_build("tinyapp.app:app", name="tiny", static="tinyapp.static")
    assert plan.name == "tiny"
    assert plan.reference == "tinyapp.app:app"
    assert plan.app_code == "tinyapp"
    assert plan.static == "tinyapp.static"
    assert plan.packages == ("onebin", "tinyapp")
    assert set(plan.left_out) == {"onebin/items/", "onebin/template/"}


def test_plan_build_of_the_items_app_keeps_it_and_calls_it_the_app_code():
    plan = plan_build("onebin.items:app", name="items", static="onebin.items.web")
    assert plan.packages == ("onebin",)
    assert plan.app_code == "onebin.items"
    assert plan.left_out == ("onebin/template/",)


def test_plan_build_stages_a_static_package_outside_the_app_and_keeps_what_it_uses():
    plan = plan_build("guestbook.app:app", name="guestbook", static="guestbook_web.site")
    assert plan.packages == ("onebin", "guestbook", "guestbook_web")
    borrowed = plan_build("mine:app", name="mine", static="onebin.items.web")
    assert "onebin/items/" not in borrowed.left_out
    bare = plan_build("mine:app", name="mine", static=None)
    assert bare.packages == ("onebin", "mine")
    assert bare.static is None


def test_app_code_package_is_the_top_level_or_onebins_subpackage():
    assert app_code_package("guestbook.app") == "guestbook"
    assert app_code_package("guestbook") == "guestbook"
    assert app_code_package("onebin.items") == "onebin.items"
    assert app_code_package("onebin.items.deep") == "onebin.items"


@pytest.mark.parametrize(
    "reference",
    ["guestbook", "guestbook:", ":app", "guest book:app", "a.:app", "x:y; import os", "x:app()"],
)
def test_app_module_refuses_what_is_not_module_colon_attribute(reference):
    with pytest.raises(BuildError, match="MODULE:ATTRIBUTE"):
        app_module(reference)


def test_plan_build_checks_the_name_and_static_package_before_anything_is_built():
    with pytest.raises(BuildError, match="cannot name an executable"):
        plan_build("tinyapp.app:app", name="Tiny App", static=None)
    with pytest.raises(BuildError, match="static package"):
        plan_build("tinyapp.app:app", name="tiny", static="tinyapp/static")
