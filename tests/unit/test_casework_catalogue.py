"""The dispatch catalogue: resolution, the department tree, every validation error, the example."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework import Catalogue, CatalogueError, DepartmentKind, parse_catalogue
from ivr.numberplan import load_number_plan

ROOT = Path(__file__).resolve().parents[2]

SMALL = """
[[departments]]
code = "hedong"
name = "河东区人民政府"
kind = "district"

[[departments]]
code = "hedong.dongguan"
name = "东关街道办事处"
kind = "street"
parent = "hedong"

[[departments]]
code = "hedong.dongguan.xinhua"
name = "新华社区居委会"
kind = "community"
parent = "hedong.dongguan"

[[departments]]
code = "hedong.cgj"
name = "河东区城市管理局"
kind = "bureau"
parent = "hedong"

[[departments]]
code = "hexi"
name = "河西区人民政府"
kind = "district"

[[departments]]
code = "cgj"
name = "市城市管理局"
kind = "bureau"

[[departments]]
code = "sthjj"
name = "市生态环境局"
kind = "bureau"

[[departments]]
code = "water"
name = "水务集团"
kind = "platform"

[[catalogue]]
category = "噪音"
lead = "sthjj"
assist = ["cgj"]

[[catalogue]]
category = "噪音"
district = "hedong"
lead = "hedong.cgj"

[[catalogue]]
category = "供水"
lead = "water"
"""


@pytest.fixture
def catalogue() -> Catalogue:
    return parse_catalogue(SMALL, "small.toml")


def test_category_alone(catalogue: Catalogue) -> None:
    found = catalogue.resolve("噪音")
    assert found is not None
    assert found.lead.code == "sthjj" and [d.code for d in found.assists] == ["cgj"]
    assert catalogue.resolve("噪音", "hexi") == found  # no hexi entry: the city-wide one


def test_category_and_district_wins(catalogue: Catalogue) -> None:
    found = catalogue.resolve("噪音", "hedong")
    assert found is not None and found.lead.code == "hedong.cgj" and found.assists == ()
    # A community or street resolves through its district.
    deeper = catalogue.resolve("噪音", "hedong.dongguan.xinhua")
    assert deeper is not None and deeper.lead.code == "hedong.cgj"
    # A district with no entry of its own for the category falls back to the city.
    water = catalogue.resolve("供水", "hedong")
    assert water is not None and water.lead.code == "water"


def test_unknown_category_is_for_the_dispatcher(catalogue: Catalogue) -> None:
    assert catalogue.resolve("外星人") is None
    assert catalogue.resolve("外星人", "hedong") is None
    assert catalogue.categories == {"噪音", "供水"}


def test_tree_helpers(catalogue: Catalogue) -> None:
    assert [d.code for d in catalogue.ancestors("hedong.dongguan.xinhua")] == [
        "hedong.dongguan",
        "hedong",
    ]
    assert catalogue.ancestors("hedong") == ()
    assert [d.code for d in catalogue.descendants("hedong")] == [
        "hedong.dongguan",
        "hedong.cgj",
        "hedong.dongguan.xinhua",
    ]
    assert catalogue.can_see("hedong", "hedong.dongguan.xinhua")
    assert catalogue.can_see("hedong.cgj", "hedong.cgj")
    assert not catalogue.can_see("hedong.dongguan.xinhua", "hedong")
    assert not catalogue.can_see("hexi", "hedong.dongguan")
    assert catalogue.district_of("hedong.dongguan.xinhua") == "hedong"
    assert catalogue.district_of("cgj") is None
    assert catalogue.department("water").kind is DepartmentKind.PLATFORM
    with pytest.raises(KeyError, match="no department 'nope'"):
        catalogue.ancestors("nope")


def _problems(text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, "bad.toml")
    assert "bad.toml" in str(caught.value)
    return caught.value.problems


def _dept(code: str, kind: str = "bureau", parent: str | None = None) -> str:
    parent_line = f'parent = "{parent}"\n' if parent else ""
    return f'[[departments]]\ncode = "{code}"\nname = "{code}"\nkind = "{kind}"\n{parent_line}\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\nlead = "cgjj"\n',
            "catalogue entry 1 (城管) names an unknown lead department 'cgjj'",
        ),
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\nlead = "cgj"\nassist = ["x"]\n',
            "catalogue entry 1 (城管) names an unknown assist department 'x'",
        ),
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\n',
            "catalogue entry 1 (城管) names no lead department (主办)",
        ),
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\nlead = ""\n',
            "catalogue entry 1 (城管) names no lead department (主办)",
        ),
        (
            _dept("a", parent="c") + _dept("b", parent="a") + _dept("c", parent="b"),
            "departments form a cycle: a → c → b → a",
        ),
        (_dept("a", parent="a"), "departments form a cycle: a → a"),
        (_dept("cgj") + _dept("cgj"), "department code 'cgj' is used twice"),
        (_dept("street1", "street", parent="hedong"), "unknown parent 'hedong'"),
        (
            _dept("cgj")
            + '[[catalogue]]\ncategory = "城管"\nlead = "cgj"\n'
            + '[[catalogue]]\ncategory = "城管"\nlead = "cgj"\n',
            "catalogue entry 2 (城管) repeats an earlier entry",
        ),
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\ndistrict = "hd"\nlead = "cgj"\n',
            "catalogue entry 1 (城管 in hd) names an unknown district 'hd'",
        ),
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\ndistrict = "cgj"\nlead = "cgj"\n',
            "'cgj' is a bureau, not a district",
        ),
        (
            _dept("cgj") + '[[catalogue]]\ncategory = "城管"\nlead = "cgj"\nassist = ["cgj"]\n',
            "names 'cgj' as both lead and assist",
        ),
        (
            _dept("cgj")
            + _dept("zjj")
            + '[[catalogue]]\ncategory = "城管"\nlead = "cgj"\nassist = ["zjj", "zjj"]\n',
            "lists an assisting department twice",
        ),
        (_dept("cgj", kind="ministry"), "departments.0.kind"),
        (_dept("cgj") + "[[catalog]]\n", "catalog: Extra inputs are not permitted"),
        ("[[departments]\n", "not valid TOML"),
    ],
)
def test_validation_names_the_problem(text: str, problem: str) -> None:
    problems = _problems(text)
    assert any(problem in line for line in problems), problems


def test_every_problem_is_listed_at_once() -> None:
    text = (
        _dept("cgj")
        + _dept("cgj")
        + '[[catalogue]]\ncategory = "噪音"\n'
        + '[[catalogue]]\ncategory = "供水"\nlead = "water"\n'
    )
    problems = _problems(text)
    assert len(problems) == 3, problems


def test_the_example_file_loads_and_covers_the_number_plan() -> None:
    catalogue = parse_catalogue((ROOT / "dispatch.example.toml").read_text(), "example")
    plan = load_number_plan(ROOT / "numberplan.example.toml")
    used = {line.category for line in plan.all_lines() if line.category}
    assert used and used <= catalogue.categories, sorted(used - catalogue.categories)
    common = {"供水", "供电", "燃气", "供暖", "物业", "噪音", "道路", "交通", "教育", "医疗"}
    common |= {"劳动保障", "住房公积金", "市场监管", "环保", "城管"}
    assert common <= catalogue.categories, sorted(common - catalogue.categories)
    kinds = {d.kind for d in catalogue.departments.values()}
    assert kinds == set(DepartmentKind)
    # Utilities go to their second-level platforms; a county has its own heating company.
    heating = catalogue.resolve("供暖", "linjiang.baisha.liangshui")
    assert heating is not None and heating.lead.code == "linjiang.heat"
    city_heating = catalogue.resolve("供暖", "hexi")
    assert city_heating is not None and city_heating.lead.kind is DepartmentKind.PLATFORM
