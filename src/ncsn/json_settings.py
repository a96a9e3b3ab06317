"""The one reader of a command's JSON settings option (--settings, --method-settings): the rules pass a
config section as one JSON object; anything else is the caller's error, named by its option."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ncsn.errors import NcsnError


def json_object(
    raw: str | Mapping[str, Any], option: str, where: str, error: type[NcsnError] = NcsnError
) -> dict[str, Any]:
    """The JSON object given as `option` (already a mapping is taken as it is).

    `where` tells the user where the object comes from, e.g. "the config section `toy.mixing`"."""
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise error(f"{option} is not valid JSON ({err}); pass one JSON object, {where}.") from None
    if not isinstance(data, dict):
        raise error(f"{option} must be a JSON object ({where}), got {type(data).__name__}.")
    return data
