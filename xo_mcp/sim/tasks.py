"""XO tasks: every REST action runs in one, which goes pending → success | failure."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from xo_mcp.sim.errors import XoError, no_such_object
from xo_mcp.sim.inventory.base import BASE36_DIGITS, base36

Work = Callable[[], Awaitable[Any]]


def _error_result(error: BaseException) -> dict[str, Any]:
    """A failed task's `result`: XO serialises the error object."""
    if isinstance(error, XoError) and error.code is not None:
        return {"name": "XapiError", "message": str(error.error), "code": error.code}
    if isinstance(error, XoError):
        result: dict[str, Any] = {"name": "XoError", "message": str(error.error)}
        if error.data is not None:
            result["data"] = error.data
        return result
    return {"name": type(error).__name__, "message": str(error)}


class TaskStore:
    """Runs actions as tasks stored in the inventory's `tasks` collection."""

    def __init__(
        self,
        tasks: dict[str, dict[str, Any]],
        *,
        seed: int,
        duration_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tasks = tasks
        self._rng = random.Random(seed ^ 0x7A5C)
        self._duration_s = duration_s
        self._clock = clock
        self._done: dict[str, asyncio.Event] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._errors: dict[str, BaseException] = {}

    def _new_id(self) -> str:
        stamp = base36(int(self._clock() * 1000)).rjust(9, "0")
        suffix = "".join(self._rng.choice(BASE36_DIGITS) for _ in range(10))
        return f"{stamp}-{suffix}"

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def create(self, properties: dict[str, Any]) -> dict[str, Any]:
        task_id = self._new_id()
        now = self._now_ms()
        task = {
            "id": task_id,
            "properties": properties,
            "start": now,
            "status": "pending",
            "updatedAt": now,
        }
        self._tasks[task_id] = task
        self._done[task_id] = asyncio.Event()
        return task

    def _finish(self, task: dict[str, Any], status: str, result: Any) -> None:
        now = self._now_ms()
        task["status"] = status
        task["end"] = now
        task["updatedAt"] = now
        if result is not None:
            task["result"] = result
        self._done[task["id"]].set()

    async def _run(self, task: dict[str, Any], work: Work, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
            result = await work()
        except asyncio.CancelledError:
            self._finish(task, "failure", {"name": "AbortError", "message": "aborted"})
            raise
        except Exception as error:  # a failed action fails its task, never the server
            self._errors[task["id"]] = error
            self._finish(task, "failure", _error_result(error))
            return
        if task["status"] == "pending":
            self._finish(task, "success", result)

    def start(
        self, properties: dict[str, Any], work: Work, *, delay_s: float | None = None
    ) -> dict[str, Any]:
        """Create the task and run `work` in the background after `delay_s` (default: the
        configured action duration)."""
        task = self.create(properties)
        delay = self._duration_s if delay_s is None else delay_s
        runner = asyncio.get_running_loop().create_task(self._run(task, work, delay))
        self._running[task["id"]] = runner
        runner.add_done_callback(lambda _: self._running.pop(task["id"], None))
        return task

    async def wait(self, task_id: str) -> dict[str, Any]:
        task = self._tasks.get(task_id)
        if task is None:
            raise no_such_object(task_id, "task")
        done = self._done.get(task_id)
        if task["status"] == "pending" and done is not None:
            await done.wait()
        return task

    def error_of(self, task_id: str) -> BaseException | None:
        """The exception a failed task ended with, so a synchronous call can answer with it."""
        return self._errors.get(task_id)

    def abort(self, task_id: str) -> None:
        task = self._tasks.get(task_id)
        runner = self._running.get(task_id)
        if task is None or runner is None or task["status"] != "pending":
            raise no_such_object(task_id, "task")
        task["abortionRequestedAt"] = self._now_ms()
        runner.cancel()

    def delete(self, task_id: str) -> None:
        if self._tasks.pop(task_id, None) is None:
            raise no_such_object(task_id, "task")
        self._done.pop(task_id, None)
        self._errors.pop(task_id, None)

    def delete_finished(self) -> None:
        for task_id in [key for key, task in self._tasks.items() if task["status"] != "pending"]:
            self.delete(task_id)

    async def close(self) -> None:
        for runner in list(self._running.values()):
            runner.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
