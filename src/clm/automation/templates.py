"""STAND-IN for the `channels` branch's templates (contracts.md). DELETE AT MERGE: take the
`channels` branch's version of this file.

``render`` renders every text field of a template with sandboxed Jinja2; a ``content``
mapping (banners) is rendered field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined
from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from clm.errors import ClmError

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateError(ClmError):
    """A template field cannot be rendered."""


def render(channel: str, template: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    del channel
    return {k: _render(k, v, context) for k, v in template.items() if k != "file"}


def _render(field: str, value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return {k: _render(f"{field}.{k}", v, context) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    try:
        return ENV.from_string(value).render(**context)
    except JinjaError as exc:
        raise TemplateError(f"template field {field}: {exc}") from exc
