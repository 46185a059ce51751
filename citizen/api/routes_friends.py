"""Local API: invites (create, accept) and friends (list, remove)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from citizen.api.app import read_json
from citizen.api.context import ApiContext
from citizen.errors import UsageError

MAX_INVITE_SECONDS = 7 * 24 * 3600
MAX_OFFER_MIB = 16 * 1024 * 1024  # 16 TiB


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def create_invite(request: Request) -> JSONResponse:
        body = await read_json(request)
        expires = body.get("expires_s", 600)
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise UsageError("expires_s must be a whole number of seconds.")
        if not 1 <= expires <= MAX_INVITE_SECONDS:
            raise UsageError(f"expires_s must be between 1 and {MAX_INVITE_SECONDS} (a week).")
        result = await ctx.service("friends").create_invite(expires)
        if body.get("qr_svg"):
            import io

            import segno

            out = io.BytesIO()
            segno.make(str(result["code"]), error="l").save(out, kind="svg", scale=4)
            result["qr_svg"] = out.getvalue().decode()
        return JSONResponse(result, status_code=201)

    async def invite_status(request: Request) -> JSONResponse:
        invite_id = request.path_params["invite_id"]
        return JSONResponse(await ctx.service("friends").invite_status(invite_id))

    async def accept_invite(request: Request) -> JSONResponse:
        body = await read_json(request)
        code = body.get("code")
        name = body.get("name")
        if not isinstance(code, str) or not code.strip():
            raise UsageError("Give the invite code as 'code'.")
        if name is not None and (not isinstance(name, str) or len(name) > 128):
            raise UsageError("'name' must be a short text.")
        result = await ctx.service("friends").accept(code, name)
        return JSONResponse(result, status_code=201)

    async def list_friends(_request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("friends").list_json())

    async def remove_friend(request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("friends").remove(request.path_params["friend"]))

    async def set_offer(request: Request) -> JSONResponse:
        body = await read_json(request)
        mib = body.get("offer_mib", "missing")
        if mib is not None and (
            not isinstance(mib, int) or isinstance(mib, bool) or not 0 <= mib <= MAX_OFFER_MIB
        ):
            raise UsageError(
                f"offer_mib must be a whole number of MiB from 0 to {MAX_OFFER_MIB}, "
                "or null for the default ([storage] offer_mib in config.toml)."
            )
        store = ctx.service("friends").store
        friend = await store.resolve(request.path_params["friend"])
        offer = None if mib is None else mib * 1024 * 1024
        await store.set_offer(friend.household, offer)
        return JSONResponse(
            {"household": friend.household, "name": friend.name, "offer_bytes": offer}
        )

    return [
        Route("/v1/invites", create_invite, methods=["POST"]),
        Route("/v1/invites/accept", accept_invite, methods=["POST"]),
        Route("/v1/invites/{invite_id}", invite_status, methods=["GET"]),
        Route("/v1/friends", list_friends, methods=["GET"]),
        Route("/v1/friends/{friend}", remove_friend, methods=["DELETE"]),
        Route("/v1/friends/{friend}/offer", set_offer, methods=["PUT"]),
    ]


_FRIEND_PARAM: dict[str, object] = {
    "name": "friend",
    "in": "path",
    "required": True,
    "description": "Household ID or the friend's display name.",
    "schema": {"type": "string", "pattern": "^[^/.][^/]*$"},
}

#: OpenAPI 3.1 path items of the routes above, merged into /v1/openapi.json by
#: `citizen.api.routes_meta`; "#/components/..." names are defined there.
OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/v1/invites": {
        "post": {
            "tags": ["invites"],
            "summary": "Create an invite for a friend's household to accept.",
            "operationId": "createInvite",
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "expires_s": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": MAX_INVITE_SECONDS,
                                    "default": 600,
                                    "description": "Seconds until the invite expires.",
                                },
                                "qr_svg": {
                                    "type": "boolean",
                                    "default": False,
                                    "description": "Also return the code as an SVG QR code.",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "The invite: give `code` (or its QR code) to the friend.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["code", "expires", "invite_id"],
                                "properties": {
                                    "code": {"type": "string"},
                                    "expires": {
                                        "type": "integer",
                                        "description": "Unix time the invite expires.",
                                    },
                                    "invite_id": {"type": "string"},
                                    "qr_svg": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
    "/v1/invites/accept": {
        "post": {
            "tags": ["invites"],
            "summary": "Accept a friend's invite code: pair with their household.",
            "operationId": "acceptInvite",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["code"],
                            "properties": {
                                "code": {"type": "string", "minLength": 1},
                                "name": {
                                    "type": ["string", "null"],
                                    "maxLength": 128,
                                    "description": "Our name for the friend's household.",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Paired. Compare `sas` with the friend out loud.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["household", "name", "sas"],
                                "properties": {
                                    "household": {"type": "string"},
                                    "name": {"type": "string"},
                                    "sas": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "404": {"$ref": "#/components/responses/NotFound"},
                "409": {"$ref": "#/components/responses/Conflict"},
                "502": {"$ref": "#/components/responses/BadGateway"},
            },
        }
    },
    "/v1/invites/{invite_id}": {
        "get": {
            "tags": ["invites"],
            "summary": "Whether an invite has been used, and by whom.",
            "operationId": "getInvite",
            "parameters": [
                {
                    "name": "invite_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The invite's state.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["invite_id", "used"],
                                "properties": {
                                    "invite_id": {"type": "string"},
                                    "used": {"type": "boolean"},
                                    "household": {"type": "string"},
                                    "name": {"type": "string"},
                                    "sas": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
    "/v1/friends": {
        "get": {
            "tags": ["friends"],
            "summary": "Friend households and their devices.",
            "operationId": "listFriends",
            "responses": {
                "200": {
                    "description": "Every friend household.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": [
                                        "household",
                                        "name",
                                        "online",
                                        "last_seen",
                                        "paired_at",
                                        "sas",
                                        "offer_bytes",
                                        "devices",
                                    ],
                                    "properties": {
                                        "household": {"type": "string"},
                                        "name": {"type": "string"},
                                        "online": {"type": "boolean"},
                                        "last_seen": {"type": ["integer", "null"]},
                                        "paired_at": {"type": "integer"},
                                        "sas": {"type": "array", "items": {"type": "string"}},
                                        "offer_bytes": {"type": ["integer", "null"]},
                                        "devices": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "required": ["device", "name", "online"],
                                                "properties": {
                                                    "device": {"type": "string"},
                                                    "name": {"type": "string"},
                                                    "online": {"type": "boolean"},
                                                    "last_seen": {"type": ["integer", "null"]},
                                                    "addrs": {
                                                        "type": "array",
                                                        "items": {"type": "string"},
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
    "/v1/friends/{friend}": {
        "delete": {
            "tags": ["friends"],
            "summary": "Stop being friends with a household (by household ID or exact name).",
            "operationId": "removeFriend",
            "parameters": [_FRIEND_PARAM],
            "responses": {
                "200": {
                    "description": "Removed; its devices are disconnected.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["household", "name", "removed"],
                                "properties": {
                                    "household": {"type": "string"},
                                    "name": {"type": "string"},
                                    "removed": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
    "/v1/friends/{friend}/offer": {
        "put": {
            "tags": ["friends"],
            "summary": "Set how much storage this household offers a friend for its shares.",
            "description": "Shares already held stay; new ones past the offer are refused "
            "(the friend's put then places them elsewhere or fails with 413).",
            "operationId": "setFriendOffer",
            "parameters": [_FRIEND_PARAM],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["offer_mib"],
                            "properties": {
                                "offer_mib": {
                                    "type": ["integer", "null"],
                                    "minimum": 0,
                                    "maximum": MAX_OFFER_MIB,
                                    "description": "MiB offered; null for the default "
                                    "([storage] offer_mib).",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The offer now in force (null: the default).",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["household", "name", "offer_bytes"],
                                "properties": {
                                    "household": {"type": "string"},
                                    "name": {"type": "string"},
                                    "offer_bytes": {"type": ["integer", "null"]},
                                },
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
}
