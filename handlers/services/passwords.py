"""Password hashing. bcrypt reads only the first 72 bytes of its input, so the password is
first reduced to a fixed-length SHA-256 digest (base64, 44 bytes): every character stays
significant and no length can make bcrypt fail.

bcrypt is CPU work of tens of milliseconds (hundreds at production cost), so both operations run
off the event loop, in an executor of their own with one thread fewer than there are cores (at
least one): bcrypt releases the GIL, and with a core always left over the event loop's thread
never waits in the run queue behind hashing threads (the default executor would run up to
cores + 4 of them). A burst of logins queues for the hashing threads instead."""

import asyncio
import base64
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def hashing_workers() -> int:
    return max(1, (os.cpu_count() or 1) - 1)


def _hashing_executor() -> ThreadPoolExecutor:
    """Made on first use; its threads are started as work comes (idle ones are reused)."""
    global _executor
    executor = _executor
    if executor is None:
        with _executor_lock:
            executor = _executor
            if executor is None:
                executor = _executor = ThreadPoolExecutor(max_workers=hashing_workers(), thread_name_prefix="bcrypt")
    return executor


def shutdown_executor(wait: bool = True) -> None:
    """Stop the hashing threads (e.g. at application cleanup); the next hash makes a new executor.
    Without a call, the interpreter joins them at exit as it does any executor's."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=True)


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
    return await asyncio.get_running_loop().run_in_executor(_hashing_executor(), hash_password_blocking, password, rounds)


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_hashing_executor(), verify_password_blocking, password, password_hash)
