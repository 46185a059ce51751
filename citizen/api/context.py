"""What the local API can reach: the node's services, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ApiContext:
    """Services the route modules use. Each area reads only its own field.

    `status` returns the JSON body of /v1/status. Other fields are filled in
    by `citizen.node` as the services exist (friends, docs, objects).
    """

    status: Callable[[], dict[str, object]]
    services: dict[str, Any] = field(default_factory=dict)

    def service(self, name: str) -> Any:
        from citizen.errors import NotFoundError

        try:
            return self.services[name]
        except KeyError:
            raise NotFoundError(
                f"The {name} service is not running in this daemon.",
                "It is off in --offline mode or not configured.",
            ) from None
