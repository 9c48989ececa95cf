import asyncio

from handlers.services.keyed_lock import KeyedLock


async def test_holds_are_exclusive_per_key_and_forgotten_when_free():
    locks = KeyedLock()
    order = []

    async def work(key, tag, pause):
        async with locks.hold(key):
            order.append(f"{tag} in")
            await asyncio.sleep(pause)
            order.append(f"{tag} out")

    await asyncio.gather(work("a", "first", 0.05), work("a", "second", 0), work("b", "other", 0))
    # "second" waits for "first" on key a; key b does not wait at all.
    assert order.index("first out") < order.index("second in")
    assert order.index("other in") < order.index("first out")
    assert len(locks) == 0
