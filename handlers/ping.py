"""`ping`: a liveness check that also tells the client the server's clock."""

import time

from handlers.base import Context, Handler


class PingHandler(Handler):
    type = "ping"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return {"ts": int(time.time() * 1000)}
