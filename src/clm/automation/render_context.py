"""What a message template sees: the render context built from a customer's facts.

:func:`context` gives every profile field, the scores by scope, the attributes, the offer
and the ids tracking links need; given the names a template reads
(:func:`clm.automation.templates.variables`, found once per version, step and variant by
:func:`template_names`) it builds only those entries, the same values as the whole
context's (``tests/automation/test_render_context.py`` checks it): a send builds ~5
entries instead of passing over ~100 facts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from clm.automation import conditions, templates
from clm.automation.definitions import Automation

Facts = Mapping[str, Any]

# (content hash, step, variant) -> the names its template reads (None: it does not parse)
_NAMES: dict[tuple[str, str, str | None], frozenset[str] | None] = {}


def template_names(
    automation: Automation, step_id: str, variant: str | None, template: Mapping[str, Any]
) -> frozenset[str] | None:
    """The names a send step's template (of ``variant``) reads, found once per version."""
    key = (automation.content_hash, step_id, variant)
    if key not in _NAMES:
        _NAMES[key] = templates.variables(template)
    return _NAMES[key]


def context(
    facts: Facts,
    automation: Automation,
    variant: str | None,
    mid: str,
    names: Collection[str] | None = None,
) -> dict[str, Any]:
    """What a template sees: profile fields, the offer, ids for tracking links.

    With ``names`` (what the template reads, :func:`templates.variables`) only those
    entries, made without the pass over every fact: the same values as the whole
    context's (``tests/automation/test_render_context.py`` checks it)."""
    if names is not None:
        return {
            k: v for k in names if (v := _entry(k, facts, automation, variant, mid)) is not _NONE
        }
    attributes: dict[str, Any] = {}
    plain: dict[str, Any] = dict(_NO_FIELDS)  # every field defined, maybe empty
    scoped: dict[str, Any] = {}
    for k, v in facts.items():  # one pass: facts hold ~100 keys (every activity scope)
        if "." not in k:
            plain[k] = _plain(v)
        elif k.startswith("attributes."):
            attributes[k[len("attributes.") :]] = v
        elif not k.startswith("attr"):
            scoped[k] = _plain(v)
    name = attributes.get("first_name") or attributes.get("name") or ""
    return {
        **plain,
        "name": name,
        "first_name": name,
        "attributes": attributes,
        "scores": scoped,
        "offer": automation.spec.get("offer", ""),
        "automation": automation.name,
        "variant": variant,
        "message_id": mid,
    }


_NONE = object()  # not in the context


def _entry(k: str, facts: Facts, automation: Automation, variant: str | None, mid: str) -> Any:
    """The context's entry ``k`` (``_NONE`` when it has none); the later keys of the
    whole context win over facts of the same name, as there."""
    if k in ("name", "first_name"):
        return facts.get("attributes.first_name") or facts.get("attributes.name") or ""
    if k == "attributes":
        return {f[11:]: v for f, v in facts.items() if f.startswith("attributes.")}
    if k == "scores":
        return {f: _plain(v) for f, v in facts.items() if "." in f and not f.startswith("attr")}
    if k == "offer":
        return automation.spec.get("offer", "")
    if k == "automation":
        return automation.name
    if k == "variant":
        return variant
    if k == "message_id":
        return mid
    if "." not in k and k in facts:
        return _plain(facts[k])
    return None if k in _NO_FIELDS else _NONE


_NO_FIELDS: dict[str, Any] = {k: None for k in conditions.PLAIN_FIELDS}
_AS_IS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    if isinstance(value, _AS_IS):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else value
