"""The transform step of the pipeline: mapping rules applied to each incoming resource.

The first step is deliberately an identity: the seam exists so mapping rules and terminology
translation slot in without touching the sync runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Transform = Callable[[dict[str, Any]], dict[str, Any] | None]


class Transformer:
    """Applies transforms in order; a transform returning None filters the resource out."""

    def __init__(self, transforms: Sequence[Transform] = ()) -> None:
        self.transforms = list(transforms)

    def __call__(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        for transform in self.transforms:
            resource = transform(resource)
            if resource is None:
                return None
        return resource
