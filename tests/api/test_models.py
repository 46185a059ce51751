"""The wire models: pure, frozen, refusing unknown fields, one name each."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import msgspec
import pytest

import citizen.api.models as models
from citizen.api.models import events

MODELS_DIR = Path(models.__file__).parent
#: what a model module may import: the models package, msgspec, typing, the shared kernel
ALLOWED = ("__future__", "typing", "msgspec", "citizen.ids", "citizen.errors", "citizen.api.models")


def _structs() -> list[type[msgspec.Struct]]:
    return [
        kind
        for name in models.__all__
        if inspect.isclass(kind := getattr(models, name)) and issubclass(kind, msgspec.Struct)
    ]


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_model_modules_import_nothing_but_msgspec_typing_and_the_kernel(path: Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{path.name}: relative import"
            imported.add(node.module)
    bad = {m for m in imported if not any(m == a or m.startswith(f"{a}.") for a in ALLOWED)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    assert len(path.read_text().splitlines()) < 600


@pytest.mark.parametrize("kind", _structs(), ids=lambda k: k.__name__)
def test_every_model_is_frozen_and_refuses_unknown_fields(kind: type[msgspec.Struct]) -> None:
    config = kind.__struct_config__
    assert config.frozen and config.forbid_unknown_fields
    assert kind.__doc__, f"{kind.__name__} says what it is (its schema description)"
    tag = {config.tag_field: config.tag} if config.tag_field else {}
    with pytest.raises(msgspec.ValidationError, match="unknown field `surprise`"):
        msgspec.convert({**tag, "surprise": 1}, kind)


def test_every_event_type_is_tagged_once() -> None:
    tagged = [k.__struct_config__ for k in _structs() if k.__struct_config__.tag_field]
    assert {c.tag_field for c in tagged} == {"type"}
    assert sorted(str(c.tag) for c in tagged) == sorted(events.EVENT_TYPES)
