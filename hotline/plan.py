"""The node's number plan file: created from the repo's example at install, read for rendering."""

from __future__ import annotations

import shutil

from core.settings import Settings
from hotline.asterisk_config import REPO_CONF
from hotline.errors import SetupError
from ivr.numberplan import NumberPlan, PlanError, load_number_plan

EXAMPLE = REPO_CONF.parent / "numberplan.example.toml"


def ensure_plan(settings: Settings) -> bool:
    """Copy the example plan into place unless a plan exists. True if it was created."""
    path = settings.number_plan_file
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE, path)
    return True


def load_plan(settings: Settings) -> NumberPlan:
    try:
        return load_number_plan(settings.number_plan_file)
    except PlanError as exc:
        raise SetupError(str(exc)) from exc
