"""The users and conversations a scenario starts from, every conversation watched by the checker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import aiohttp

from tests.faults.checker import Checker
from tests.faults.client import Account, direct, group, register


@dataclass
class World:
    accounts: list[Account]
    groups: list[int]
    directs: list[int]

    def conversations_of(self, n: int) -> list[int]:
        """The conversations of the n-th account: every group, and its direct ones."""
        users = len(self.accounts)
        return self.groups + [c for k, c in enumerate(self.directs) if n in (k % users, (k + 1) % users)]


async def build(session: aiohttp.ClientSession, url: str, checker: Checker, users: int, groups: int, directs: int = 0) -> World:
    """`users` accounts; `groups` groups holding all of them; `directs` direct conversations
    between neighbours (user i and i+1)."""
    tag = uuid.uuid4().hex[:6]
    accounts = [await register(session, url, f"f{tag}_{n}") for n in range(users)]
    world = World(accounts, [], [])
    for n in range(groups):
        owner = accounts[n % users]
        world.groups.append(await group(session, url, owner, accounts, f"group {n}"))
        checker.watch(world.groups[-1], owner.token)
    for n in range(directs):
        one, other = accounts[n % users], accounts[(n + 1) % users]
        world.directs.append(await direct(session, url, one, other))
        checker.watch(world.directs[-1], one.token)
    return world
