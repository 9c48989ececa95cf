"""Message search over REST."""

from aiohttp import web

from handlers.schemas import SearchQuerySchema
from server.envelope import envelope, read_query
from server.keys import CLAIMS, SERVICES
from server.openapi import documented

routes = web.RouteTableDef()


@routes.get("/api/search")
@documented("The caller's messages holding every word of q, newest first, each with a snippet", query=SearchQuerySchema, response="SearchPageVO", errors=(404, 422))
async def search(request: web.Request) -> web.Response:
    query = read_query(request, SearchQuerySchema())
    return envelope(await request.app[SERVICES].search.search(request[CLAIMS].user_id, **query))
