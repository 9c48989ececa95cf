"""Password hashing. bcrypt reads only the first 72 bytes of its input, so the password is
first reduced to a fixed-length SHA-256 digest (base64, 44 bytes): every character stays
significant and no length can make bcrypt fail. bcrypt is CPU work of tens of milliseconds,
so both operations run in the default executor, never on the event loop."""

import asyncio
import base64
import hashlib

import bcrypt


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password_blocking(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password_blocking(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


async def hash_password(password: str, rounds: int) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_password_blocking, password, rounds)


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, verify_password_blocking, password, password_hash)
