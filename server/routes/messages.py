"""Messages over REST: the same service calls, and so the same pushes, as the socket handlers."""

from aiohttp import web

from handlers.schemas import (
    ConversationMessageSchema,
    DirectMessageSchema,
    EditMessageSchema,
    ForwardMessageSchema,
    HistoryQuerySchema,
    MarkReadSchema,
    ReactionSchema,
)
from server.envelope import envelope, read_json, read_query
from server.keys import CLAIMS, SERVICES
from server.openapi import documented
from server.routes.params import path_id

routes = web.RouteTableDef()


@routes.get("/api/conversations/{id}/messages")
@documented("A page of history by seq ascending, or the messages changed since a change seq", query=HistoryQuerySchema, response="[MessageVO] | HistoryPageVO", errors=(404, 422))
async def history(request: web.Request) -> web.Response:
    query = read_query(request, HistoryQuerySchema())
    page = await request.app[SERVICES].messaging.history(request[CLAIMS].user_id, path_id(request, "id"), **query)
    return envelope(page)


@routes.post("/api/conversations/{id}/messages")
@documented("Send to a conversation", body=ConversationMessageSchema, response="MessageVO", status=201, errors=(403, 404, 409, 413, 422))
async def send_to_conversation(request: web.Request) -> web.Response:
    body = await read_json(request, ConversationMessageSchema())
    message, created = await request.app[SERVICES].messaging.send(request[CLAIMS].user_id, conversation_id=path_id(request, "id"), **body)
    return envelope(message, code=201 if created else 200)


@routes.post("/api/messages")
@documented("Send a direct message (the conversation is created on first use)", body=DirectMessageSchema, response="MessageVO", status=201, errors=(403, 404, 409, 413, 422))
async def send_direct(request: web.Request) -> web.Response:
    body = await read_json(request, DirectMessageSchema())
    message, created = await request.app[SERVICES].messaging.send(request[CLAIMS].user_id, **body)
    return envelope(message, code=201 if created else 200)


@routes.post("/api/messages/{id}/forward")
@documented(
    "Forward a message one may read to a conversation or user", body=ForwardMessageSchema, response="MessageVO", status=201, errors=(403, 404, 409, 413, 422)
)
async def forward(request: web.Request) -> web.Response:
    body = await read_json(request, ForwardMessageSchema())
    message, created = await request.app[SERVICES].messaging.forward(request[CLAIMS].user_id, path_id(request, "id"), **body)
    return envelope(message, code=201 if created else 200)


@routes.post("/api/conversations/{id}/read")
@documented("Move the read marker forward", body=MarkReadSchema, response="ReadMarkerVO", errors=(404, 422))
async def mark_read(request: web.Request) -> web.Response:
    body = await read_json(request, MarkReadSchema())
    return envelope(await request.app[SERVICES].messaging.mark_read(request[CLAIMS].user_id, path_id(request, "id"), body["seq"]))


@routes.post("/api/messages/{id}/recall")
@documented("Recall one's own message within the recall window", response="MessageVO", errors=(403, 404))
async def recall(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].messaging.recall(request[CLAIMS].user_id, path_id(request, "id")))


@routes.patch("/api/messages/{id}")
@documented("Edit one's own text message within the edit window", body=EditMessageSchema, response="MessageVO", errors=(403, 404, 413, 422))
async def edit(request: web.Request) -> web.Response:
    body = await read_json(request, EditMessageSchema())
    return envelope(await request.app[SERVICES].messaging.edit(request[CLAIMS].user_id, path_id(request, "id"), body["content"]))


@routes.get("/api/conversations/{id}/messages/{message_id}/edits")
@documented("The versions of a message, oldest first, the current one last", response="[MessageVersionVO]", errors=(404,))
async def versions(request: web.Request) -> web.Response:
    service = request.app[SERVICES].messaging
    return envelope(await service.versions(request[CLAIMS].user_id, path_id(request, "id"), path_id(request, "message_id")))


@routes.get("/api/conversations/{id}/messages/{message_id}/readers")
@documented("The members who have read a message (their read marker is at or past it), the sender left out", response="[UserVO]", errors=(404,))
async def readers(request: web.Request) -> web.Response:
    service = request.app[SERVICES].messaging
    return envelope(await service.readers(request[CLAIMS].user_id, path_id(request, "id"), path_id(request, "message_id")))


def _emoji(request: web.Request) -> str:
    """The emoji of the path (percent-encoded by the client), validated as a frame's would be."""
    return ReactionSchema().load({"emoji": request.match_info["emoji"]})["emoji"]


@routes.put("/api/messages/{id}/reactions/{emoji}")
@documented("React to a message with an emoji; again: nothing changes", response="MessageVO", errors=(403, 404, 422))
async def add_reaction(request: web.Request) -> web.Response:
    emoji = _emoji(request)
    return envelope(await request.app[SERVICES].reactions.add(request[CLAIMS].user_id, path_id(request, "id"), emoji))


@routes.delete("/api/messages/{id}/reactions/{emoji}")
@documented("Take one's reaction back; one not there: nothing changes", response="MessageVO", errors=(403, 404, 422))
async def remove_reaction(request: web.Request) -> web.Response:
    emoji = _emoji(request)
    return envelope(await request.app[SERVICES].reactions.remove(request[CLAIMS].user_id, path_id(request, "id"), emoji))
