"""Local API: invites (create, accept, state) and friends (list, offer storage, remove)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.context import ApiContext
from citizen.api.models import (
    AcceptInvite,
    CreateInvite,
    Friend,
    FriendOffer,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    SetOffer,
)
from citizen.api.models.friends import FriendRef, InviteIdText
from citizen.api.operations import (
    BAD_GATEWAY,
    BAD_REQUEST,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    BodyOperation,
    Operation,
    Param,
)

FRIEND = Param("friend", "path", FriendRef)

CREATE_INVITE = BodyOperation(
    method="POST",
    path="/v1/invites",
    operation_id="createInvite",
    tag="invites",
    summary="Create an invite for a friend's household to accept.",
    request=CreateInvite,
    request_required=False,
    response=Invite,
    status=201,
    ok="The invite: give `code` (or its QR code) to the friend.",
    errors=(BAD_REQUEST, NOT_FOUND),
)
ACCEPT_INVITE = BodyOperation(
    method="POST",
    path="/v1/invites/accept",
    operation_id="acceptInvite",
    tag="invites",
    summary="Accept a friend's invite code: pair with their household.",
    request=AcceptInvite,
    response=Pairing,
    status=201,
    ok="Paired. Compare `sas` with the friend out loud.",
    errors=(BAD_REQUEST, FORBIDDEN, NOT_FOUND, CONFLICT, BAD_GATEWAY),
)
INVITE_STATE = Operation(
    method="GET",
    path="/v1/invites/{invite_id}",
    operation_id="getInvite",
    tag="invites",
    summary="Whether an invite has been used, and by whom.",
    params=(Param("invite_id", "path", InviteIdText),),
    response=InviteState,
    ok="The invite's state.",
    errors=(NOT_FOUND,),
)
LIST_FRIENDS = Operation(
    method="GET",
    path="/v1/friends",
    operation_id="listFriends",
    tag="friends",
    summary="Friend households and their devices.",
    response=list[Friend],
    ok="Every friend household.",
    errors=(NOT_FOUND,),
)
REMOVE_FRIEND = Operation(
    method="DELETE",
    path="/v1/friends/{friend}",
    operation_id="removeFriend",
    tag="friends",
    summary="Stop being friends with a household (by household ID or exact name).",
    params=(FRIEND,),
    response=RemovedFriend,
    ok="Removed; its devices are disconnected.",
    errors=(NOT_FOUND,),
)
SET_OFFER = BodyOperation(
    method="PUT",
    path="/v1/friends/{friend}/offer",
    operation_id="setFriendOffer",
    tag="friends",
    summary="Set how much storage this household offers a friend for its shares.",
    description="Shares already held stay; new ones past the offer are refused "
    "(the friend's put then places them elsewhere or fails with 413).",
    params=(FRIEND,),
    request=SetOffer,
    response=FriendOffer,
    ok="The offer now in force (null: the default).",
    errors=(BAD_REQUEST, NOT_FOUND),
)

OPERATIONS: tuple[Operation, ...] = (
    CREATE_INVITE,
    ACCEPT_INVITE,
    INVITE_STATE,
    LIST_FRIENDS,
    REMOVE_FRIEND,
    SET_OFFER,
)


def _qr_svg(code: str) -> str:
    import io

    import segno

    out = io.BytesIO()
    segno.make(code, error="l").save(out, kind="svg", scale=4)
    return out.getvalue().decode()


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def create_invite(request: Request) -> Response:
        body = await CREATE_INVITE.read(request)
        result = await ctx.friends().create_invite(body.expires_s)
        if body.qr_svg:
            result["qr_svg"] = _qr_svg(str(result["code"]))
        return CREATE_INVITE.respond(result)

    async def invite_status(request: Request) -> Response:
        invite_id = request.path_params["invite_id"]
        return INVITE_STATE.respond(await ctx.friends().invite_status(invite_id))

    async def accept_invite(request: Request) -> Response:
        body = await ACCEPT_INVITE.read(request)
        return ACCEPT_INVITE.respond(await ctx.friends().accept(body.code, body.name))

    async def list_friends(_request: Request) -> Response:
        return LIST_FRIENDS.respond(await ctx.friends().list_json())

    async def remove_friend(request: Request) -> Response:
        friend = request.path_params["friend"]
        return REMOVE_FRIEND.respond(await ctx.friends().remove(friend))

    async def set_offer(request: Request) -> Response:
        body = await SET_OFFER.read(request)
        store = ctx.friends().store
        friend = await store.resolve(request.path_params["friend"])
        offer = None if body.offer_mib is None else body.offer_mib * 1024 * 1024
        await store.set_offer(friend.household, offer)
        return SET_OFFER.respond(
            FriendOffer(household=friend.household, name=friend.name, offer_bytes=offer)
        )

    return [
        CREATE_INVITE.route(create_invite),
        ACCEPT_INVITE.route(accept_invite),
        INVITE_STATE.route(invite_status),
        LIST_FRIENDS.route(list_friends),
        REMOVE_FRIEND.route(remove_friend),
        SET_OFFER.route(set_offer),
    ]
