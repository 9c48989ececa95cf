"""File upload and download (issue 6, part 1)."""

import base64
import json
import os
import tracemalloc

import aiohttp
import pytest

from server.app import create_app
from tests.chat import UserFactory

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
HTML = b"<html><body><script>alert(1)</script></body></html>"


def form(data: bytes, filename: str = "picture.png", content_type: str = "text/plain") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("file", data, filename=filename, content_type=content_type)
    return body


async def upload(user, data: bytes, **kwargs) -> tuple[int, dict]:
    return await user.call("POST", "/api/files", data=form(data, **kwargs))


async def test_upload_sniffs_the_type_and_cleans_the_name(users, settings):
    alice = await users.make("alice")
    status, body = await upload(alice, PNG, filename="..\\..\\etc/ev<il>|.png", content_type="text/plain")
    assert status == 201, body
    file = body["data"]
    assert file["mime"] == "image/png"
    assert file["name"] == "ev_il__.png"
    assert file["size"] == len(PNG) and file["url"] == f"/api/files/{file['id']}"
    stored = os.listdir(settings.upload_dir)
    assert len(stored) == 1 and "evil" not in stored[0]


async def test_unknown_bytes_are_octet_stream(users):
    alice = await users.make("alice")
    status, body = await upload(alice, b"\x00\x01 no known signature", filename="data.png", content_type="image/png")
    assert status == 201 and body["data"]["mime"] == "application/octet-stream"


async def test_download_headers(users):
    alice = await users.make("alice")
    png = (await upload(alice, PNG))[1]["data"]
    html = (await upload(alice, HTML, filename="page.html", content_type="image/png"))[1]["data"]
    response = await alice.client.get(png["url"], headers=alice.auth)
    assert response.status == 200 and await response.read() == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    response = await alice.client.get(html["url"], headers=alice.auth)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response.headers["Content-Security-Policy"]


async def test_who_may_download(users):
    alice, bob, carol = await users.make("alice"), await users.make("bob"), await users.make("carol")
    file = (await upload(alice, PNG))[1]["data"]
    assert (await bob.call("GET", file["url"]))[0] == 404
    a = await alice.connect()
    sent = await a.request("send_message", {"receiver_id": bob.id, "content": json.dumps({"file_id": file["id"]}), "msg_type": 2})
    assert sent["code"] == 201, sent
    reference = json.loads(sent["data"]["content"])
    assert reference == {"file_id": file["id"], "name": file["name"], "size": file["size"], "mime": "image/png"}
    response = await bob.client.get(file["url"], headers=bob.auth)
    assert response.status == 200 and await response.read() == PNG
    assert (await carol.call("GET", file["url"]))[0] == 404
    # Bob may pass on what he may read.
    b = await bob.connect()
    forwarded = await b.request("send_message", {"receiver_id": carol.id, "content": sent["data"]["content"], "msg_type": 2})
    assert forwarded["code"] == 201
    assert (await carol.client.get(file["url"], headers=carol.auth)).status == 200
    # Recalling the message that shared it with Bob takes it from him, not from the uploader.
    await b.request("recall", {"message_id": forwarded["data"]["id"]})
    await a.request("recall", {"message_id": sent["data"]["id"]})
    assert (await bob.call("GET", file["url"]))[0] == 404
    assert (await carol.call("GET", file["url"]))[0] == 404
    assert (await alice.client.get(file["url"], headers=alice.auth)).status == 200


async def test_an_avatar_is_readable_by_everyone_signed_in(users):
    """A picture set as its uploader's avatar is served to any signed-in user, as long as it
    is the avatar; only one's own image can be made an avatar (422 otherwise)."""
    alice, bob = await users.make("alice"), await users.make("bob")
    picture = (await upload(alice, PNG))[1]["data"]
    page = (await upload(alice, HTML, filename="page.html"))[1]["data"]
    bobs = (await upload(bob, PNG))[1]["data"]
    assert (await bob.call("GET", picture["url"]))[0] == 404
    for avatar in (bobs["url"], page["url"], "/api/files/999999999", "/api/files/0" + str(picture["id"]), "/api/files/99999999999999999999999", "/api/files/x"):
        status, body = await alice.call("PATCH", "/api/users/me", json={"avatar": avatar})
        assert status == 422 and "avatar" in body["data"]["errors"], (avatar, body)
    assert (await alice.ok("GET", "/api/users/me"))["avatar"] is None

    assert (await alice.ok("PATCH", "/api/users/me", json={"avatar": picture["url"]}))["avatar"] == picture["url"]
    assert (await bob.ok("GET", f"/api/users/{alice.id}"))["avatar"] == picture["url"]
    response = await bob.client.get(picture["url"], headers=bob.auth)
    assert response.status == 200 and await response.read() == PNG
    # Nobody signed out; the uploader's other files stay private.
    assert (await bob.client.get(picture["url"])).status == 401
    assert (await bob.call("GET", page["url"]))[0] == 404
    # Bob naming alice's picture as his own avatar makes nothing readable.
    status, _ = await bob.call("PATCH", "/api/users/me", json={"avatar": picture["url"]})
    assert status == 422
    # Another avatar, or none: the picture is private again.
    await alice.ok("PATCH", "/api/users/me", json={"avatar": "https://example.com/a.png"})
    assert (await bob.call("GET", picture["url"]))[0] == 404
    await alice.ok("PATCH", "/api/users/me", json={"avatar": picture["url"]})
    await alice.ok("PATCH", "/api/users/me", json={"avatar": None})
    assert (await bob.call("GET", picture["url"]))[0] == 404


async def test_file_messages_are_checked(users):
    alice, bob = await users.make("alice"), await users.make("bob")
    bobs_file = (await upload(bob, PNG))[1]["data"]
    html = (await upload(alice, HTML, filename="x.html"))[1]["data"]
    a = await alice.connect()
    not_hers = await a.request("send_message", {"receiver_id": bob.id, "content": json.dumps({"file_id": bobs_file["id"]}), "msg_type": 3})
    assert not_hers["code"] == 403
    not_an_image = await a.request("send_message", {"receiver_id": bob.id, "content": json.dumps({"file_id": html["id"]}), "msg_type": 2})
    assert not_an_image["code"] == 422
    as_file = await a.request("send_message", {"receiver_id": bob.id, "content": json.dumps({"file_id": html["id"]}), "msg_type": 3, "client_msg_id": "f1"})
    assert as_file["code"] == 201
    # A resend that writes the reference differently is still the same message.
    resend = await a.request("send_message", {"receiver_id": bob.id, "content": json.dumps({"file_id": html["id"], "name": "whatever"}), "msg_type": 3, "client_msg_id": "f1"})
    assert resend["code"] == 200 and resend["data"]["id"] == as_file["data"]["id"]


async def test_missing_part_and_wrong_body_are_refused(users):
    alice = await users.make("alice")
    body = aiohttp.FormData()
    body.add_field("other", b"x", filename="x.bin")
    assert (await alice.call("POST", "/api/files", data=body))[0] == 400
    assert (await alice.call("POST", "/api/files", json={"file": "x"}))[0] == 400
    assert (await alice.client.post("/api/files", data=form(PNG))).status == 401


@pytest.fixture
async def small_limit_client(aiohttp_client, settings, engine):
    return await aiohttp_client(create_app(settings.replace(upload_max_bytes=100_000)))


async def test_over_the_limit_is_413_with_and_without_content_length(small_limit_client, settings):
    alice = await UserFactory(small_limit_client).make("alice")
    status, body = await upload(alice, b"\x00" * 100_001)
    assert status == 413 and body["code"] == 413
    at_limit = await upload(alice, b"\x00" * 100_000)
    assert at_limit[0] == 201

    async def stream():
        boundary = "hubbubboundary"
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
        for _ in range(40):
            yield b"\x00" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await small_limit_client.post(
        "/api/files", data=stream(), headers={**alice.auth, "Content-Type": "multipart/form-data; boundary=hubbubboundary"}
    )
    assert "Content-Length" not in response.request_info.headers
    assert response.status == 413
    # Only the upload at the limit was kept.
    assert len(os.listdir(settings.upload_dir)) == 1


async def test_a_large_upload_streams_in_flat_memory(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings.replace(upload_max_bytes=64 * 1024 * 1024)))
    alice = await UserFactory(client).make("alice")
    total = 48 * 1024 * 1024
    chunk = b"\x5a" * (256 * 1024)

    async def stream():
        boundary = "hubbubboundary"
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
        for _ in range(total // len(chunk)):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    tracemalloc.start()
    try:
        response = await client.post("/api/files", data=stream(), headers={**alice.auth, "Content-Type": "multipart/form-data; boundary=hubbubboundary"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = await response.json()
    assert response.status == 201 and body["data"]["size"] == total
    # Holding the file would take 48 MiB; streaming keeps a few chunks in flight.
    assert peak < 8 * 1024 * 1024, peak


FILE_PART_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
WHOLE_FILE_PART = FILE_PART_HEAD + b"bytes\r\n--b--\r\n"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("multipart/form-data", WHOLE_FILE_PART, id="no boundary"),
        pytest.param("multipart/form-data; boundary=" + "b" * 71, WHOLE_FILE_PART, id="boundary over 70 characters"),
        pytest.param("multipart/mixed; boundary=b", WHOLE_FILE_PART, id="not form-data"),
        pytest.param("multipart/form-data; boundary=b", b"no boundary in here", id="no opening boundary"),
        pytest.param("multipart/form-data; boundary=b", b"--b\r\nthis is no header\r\n\r\nbytes\r\n--b--\r\n", id="garbage part header"),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + b"a" * 9000 + b'"\r\n\r\nbytes\r\n--b--\r\n',
            id="part header over 8190 bytes",
        ),
        pytest.param("multipart/form-data; boundary=b", b"--b\r\n" + b"X-Header: value\r\n" * 200 + b"\r\nbytes\r\n--b--\r\n", id="too many part headers"),
        pytest.param("multipart/form-data; boundary=b", FILE_PART_HEAD + b"bytes and then nothing", id="file part cut short"),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\n' + b"x" * 40 + b"\r\n" + WHOLE_FILE_PART,
            id="charset part too long",
        ),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b\r\nnot a header\r\n\r\n' + WHOLE_FILE_PART,
            id="garbage header in a later part",
        ),
    ],
)
async def test_a_malformed_multipart_body_is_a_400_in_the_envelope(users, settings, content_type, body):
    alice = await users.make("alice")
    response = await alice.client.post("/api/files", data=body, headers={**alice.auth, "Content-Type": content_type})
    answer = await response.json()
    assert response.status == 400, answer
    assert answer["code"] == 400 and answer["data"] is None and answer["message"]
    assert not os.path.exists(settings.upload_dir) or os.listdir(settings.upload_dir) == []
    # The server is none the worse for it.
    assert (await upload(alice, PNG))[0] == 201
