"""What the local API can reach: the node's services, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from citizen.errors import NotFoundError

if TYPE_CHECKING:
    from citizen.api.models.status import Status
    from citizen.backup.service import BackupService
    from citizen.docs.service import DocsService
    from citizen.friends.service import FriendsService
    from citizen.household.service import HouseholdService
    from citizen.objects.service import ObjectsService

S = TypeVar("S")


@dataclass(slots=True)
class ApiContext:
    """Services the route modules use, each read through its typed accessor.

    `citizen.node` registers the services as they exist, by name:
    ``api.services["docs"] = docs`` (also "friends", "objects", "household",
    "backup"; "metrics" is made on first use). `status` returns the answer of
    /v1/status.
    """

    status: Callable[[], Status]
    services: dict[str, object] = field(default_factory=dict)

    def find(self, name: str, kind: type[S]) -> S | None:
        """The service registered as `name`, or None if it is not running.

        Raises:
            TypeError: something other than a `kind` is registered under `name` (a wiring bug).
        """
        found = self.services.get(name)
        if found is None:
            return None
        if not isinstance(found, kind):
            raise TypeError(f"api.services[{name!r}] is a {type(found).__name__}, not {kind}")
        return found

    def need(self, name: str, kind: type[S]) -> S:
        """The service registered as `name`.

        Raises:
            NotFoundError: it is not running (off in --offline mode, or not configured).
        """
        found = self.find(name, kind)
        if found is None:
            raise NotFoundError(
                f"The {name} service is not running in this daemon.",
                "It is off in --offline mode or not configured.",
            )
        return found

    def friends(self) -> FriendsService:
        """Raises: NotFoundError, when not running (see `need`)."""
        from citizen.friends.service import FriendsService

        return self.need("friends", FriendsService)

    def docs(self) -> DocsService:
        """Raises: NotFoundError, when not running (see `need`)."""
        from citizen.docs.service import DocsService

        return self.need("docs", DocsService)

    def objects(self) -> ObjectsService:
        """Raises: NotFoundError, when not running (see `need`)."""
        from citizen.objects.service import ObjectsService

        return self.need("objects", ObjectsService)

    def household(self) -> HouseholdService:
        """Raises: NotFoundError, when not running (see `need`)."""
        from citizen.household.service import HouseholdService

        return self.need("household", HouseholdService)

    def backup(self) -> BackupService:
        """Raises: NotFoundError, when not running (see `need`)."""
        from citizen.backup.service import BackupService

        return self.need("backup", BackupService)
