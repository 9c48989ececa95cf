"""POST /api/files (streamed multipart upload) and GET /api/files/{id}."""

from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from handlers.errors import BadRequest, PayloadTooLarge
from server.envelope import envelope
from server.keys import CLAIMS, SERVICES, SETTINGS
from server.logs import stamp_request_id
from server.openapi import documented
from server.routes.params import path_id
from storage.blobs import CHUNK_BYTES

routes = web.RouteTableDef()

# Uploaded files are never a page of this site: no scripts, no plugins, no framing.
DOWNLOAD_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"

# What aiohttp's multipart reader raises for a body that is not well-formed multipart: ValueError
# for a missing or overlong boundary or a body without one, BadHttpMessage (LineTooLong,
# InvalidHeader) for part headers that are garbage, too long or too many, RuntimeError for a
# `_charset_` part it cannot use. All of them are the client's mistake.
_MALFORMED = (ValueError, RuntimeError, HttpProcessingError)


@routes.post("/api/files")
@documented("Upload one file (multipart part `file`)", response="FileVO", status=201, errors=(413, 422))
async def upload(request: web.Request) -> web.Response:
    limit = request.app[SETTINGS].upload_max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"files are limited to {limit} bytes")
    if request.content_type != "multipart/form-data":
        raise BadRequest("send the file as multipart/form-data in a part named file")
    part = await _file_part(request)
    return envelope(await request.app[SERVICES].files.upload(request[CLAIMS].user_id, part.filename, _chunks(part)), code=201)


@routes.get("/api/files/{id}")
@documented("The file's bytes, for its uploader and members of conversations it was sent to, and for everyone signed in while it is its uploader's avatar", errors=(404,))
async def download(request: web.Request) -> web.StreamResponse:
    found = await request.app[SERVICES].files.download(request[CLAIMS].user_id, path_id(request, "id"))
    disposition = "inline" if found.inline else "attachment"
    response = web.StreamResponse(
        headers={
            "Content-Type": found.mime,
            "Content-Disposition": f"{disposition}; filename=\"{_ascii_fallback(found.name)}\"; filename*=UTF-8''{quote(found.name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOWNLOAD_CSP,
            "Cache-Control": "private, max-age=3600",
        }
    )
    response.content_length = found.size
    stamp_request_id(response)
    await response.prepare(request)
    async for chunk in found.chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def _file_part(request: web.Request) -> BodyPartReader:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            await part.release()
    except _MALFORMED:
        raise BadRequest("malformed multipart body") from None
    raise BadRequest("no multipart part named file")


async def _chunks(part: BodyPartReader):
    try:
        while chunk := await part.read_chunk(CHUNK_BYTES):
            yield chunk
    except _MALFORMED:
        raise BadRequest("malformed multipart body") from None
    # The reader stops at the end of the body as it does at the part's boundary; a file that
    # lacks its boundary was cut short, and is not kept as if it were whole.
    if not part.at_eof():
        raise BadRequest("malformed multipart body: the file part ends before its boundary")


def _ascii_fallback(name: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
