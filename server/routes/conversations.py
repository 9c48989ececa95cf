"""/api/conversations: lifecycle and membership."""

from aiohttp import web

from handlers.schemas import (
    AddMembersSchema,
    ConversationListQuerySchema,
    ConversationSettingsSchema,
    CreateConversationSchema,
    MemberRoleSchema,
    TransferOwnerSchema,
    UpdateConversationSchema,
)
from server.envelope import envelope, read_json, read_query
from server.keys import CLAIMS, SERVICES
from server.openapi import documented
from server.routes.params import path_id

routes = web.RouteTableDef()


@routes.get("/api/conversations")
@documented("The caller's conversations, pinned first, then latest activity first", query=ConversationListQuerySchema, response="[ConversationVO]", errors=(422,))
async def list_conversations(request: web.Request) -> web.Response:
    query = read_query(request, ConversationListQuerySchema())
    return envelope(await request.app[SERVICES].conversations.list_for(request[CLAIMS].user_id, **query))


@routes.post("/api/conversations")
@documented("Open a direct conversation or create a group", body=CreateConversationSchema, response="ConversationVO", status=201, errors=(403, 404, 422))
async def create_conversation(request: web.Request) -> web.Response:
    body = await read_json(request, CreateConversationSchema())
    service = request.app[SERVICES].conversations
    user_id = request[CLAIMS].user_id
    if body["type"] == "direct":
        conversation, created = await service.open_direct(user_id, body["peer_id"])
        return envelope(conversation, code=201 if created else 200)
    return envelope(await service.create_group(user_id, body["name"], body["member_ids"] or []), code=201)


@routes.get("/api/conversations/{id}")
@documented("One conversation with its members", response="ConversationVO", errors=(404,))
async def get_conversation(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].conversations.get(request[CLAIMS].user_id, path_id(request, "id")))


@routes.patch("/api/conversations/{id}")
@documented("Rename a group or set its recall window (owner only)", body=UpdateConversationSchema, response="ConversationVO", errors=(403, 404, 422))
async def update_conversation(request: web.Request) -> web.Response:
    changes = await read_json(request, UpdateConversationSchema())
    return envelope(await request.app[SERVICES].conversations.update(request[CLAIMS].user_id, path_id(request, "id"), changes))


@routes.patch("/api/conversations/{id}/settings")
@documented("The caller's own mute, pin and archive of a conversation", body=ConversationSettingsSchema, response="ConversationVO", errors=(404, 422))
async def update_settings(request: web.Request) -> web.Response:
    changes = await read_json(request, ConversationSettingsSchema())
    return envelope(await request.app[SERVICES].conversations.update_settings(request[CLAIMS].user_id, path_id(request, "id"), changes))


@routes.delete("/api/conversations/{id}")
@documented("Delete a group (owner only)", errors=(403, 404))
async def delete_conversation(request: web.Request) -> web.Response:
    await request.app[SERVICES].conversations.delete(request[CLAIMS].user_id, path_id(request, "id"))
    return envelope(None)


@routes.get("/api/conversations/{id}/members")
@documented("The members, with presence and role", response="[MemberVO]", errors=(404,))
async def list_members(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].conversations.members(request[CLAIMS].user_id, path_id(request, "id")))


@routes.post("/api/conversations/{id}/members")
@documented("Add members to a group (owner only)", body=AddMembersSchema, response="[MemberVO]", errors=(403, 404, 422))
async def add_members(request: web.Request) -> web.Response:
    body = await read_json(request, AddMembersSchema())
    members = await request.app[SERVICES].conversations.add_members(request[CLAIMS].user_id, path_id(request, "id"), body["user_ids"])
    return envelope(members)


@routes.delete("/api/conversations/{id}/members/{user_id}")
@documented("Remove a member (owner; an admin: a plain member) or leave (the member itself)", errors=(403, 404))
async def remove_member(request: web.Request) -> web.Response:
    await request.app[SERVICES].conversations.remove_member(request[CLAIMS].user_id, path_id(request, "id"), path_id(request, "user_id"))
    return envelope(None)


@routes.patch("/api/conversations/{id}/members/{user_id}")
@documented("Make a member an admin, or an admin a member again (owner only)", body=MemberRoleSchema, response="MemberVO", errors=(403, 404, 422))
async def set_member_role(request: web.Request) -> web.Response:
    body = await read_json(request, MemberRoleSchema())
    service = request.app[SERVICES].conversations
    return envelope(await service.set_role(request[CLAIMS].user_id, path_id(request, "id"), path_id(request, "user_id"), body["role"]))


@routes.post("/api/conversations/{id}/owner")
@documented("Hand the group over to another member (owner only); the owner stays as an admin", body=TransferOwnerSchema, response="ConversationVO", errors=(403, 404, 422))
async def transfer_owner(request: web.Request) -> web.Response:
    body = await read_json(request, TransferOwnerSchema())
    return envelope(await request.app[SERVICES].conversations.transfer_owner(request[CLAIMS].user_id, path_id(request, "id"), body["user_id"]))
