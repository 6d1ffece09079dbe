"""Messages, the alarms XO reshapes from some of them, and the task history."""

from __future__ import annotations

from typing import Any

from xo_mcp.sim.inventory.base import ALARM_NAMES, DAY, EPOCH, XO_TYPES, InventoryBase, Obj, iso
from xo_mcp.sim.inventory.samples import ALARM_BODY, ALARM_VALUE, ALARM_VAR, MESSAGE_KINDS


class EventsMixin(InventoryBase):
    def alarms(self) -> list[Obj]:
        return [
            self._alarm_view(message)
            for message in self._data["messages"].values()
            if message.get("name") in ALARM_NAMES
        ]

    def alarm(self, alarm_id: str) -> Obj | None:
        message = self._data["messages"].get(alarm_id)
        if message is None or message.get("name") not in ALARM_NAMES:
            return None
        return self._alarm_view(message)

    def alarms_of(self, object_id: str) -> list[Obj]:
        return [alarm for alarm in self.alarms() if alarm["object"]["uuid"] == object_id]

    def messages_of(self, object_id: str) -> list[Obj]:
        return [
            message
            for message in self._data["messages"].values()
            if message.get("$object") == object_id and message.get("name") not in ALARM_NAMES
        ]

    # ------------------------------------------------------------------ build

    def _build_messages(self) -> None:
        total = self._size.messages
        alarm_count = min(total, max(3, total // 5))
        built = [self._alarm_message(i) for i in range(alarm_count)]
        built += [self._plain_message(i) for i in range(total - alarm_count)]
        # Stored oldest first, as XAPI lists them.
        for message in sorted((m for m in built if m is not None), key=lambda m: m["time"]):
            self._put("messages", message)

    def _message(self, name: str, body: str, target: Obj) -> Obj:
        message = self._xapi("message", target["$pool"])
        message.update(
            {"name": name, "body": body, "time": self._ago(60, 7 * DAY), "$object": target["id"]}
        )
        return message

    def _pick(self, segment: str) -> Obj | None:
        objects = self._data[segment]
        if not objects:
            return None
        return objects[self._rng.choice(list(objects))]

    def _alarm_message(self, index: int) -> Obj | None:
        kind = index % 5
        if kind == 3:
            pif = self._pick("pifs")
            if pif is not None:
                body = "The status of the eth0+eth1 bond changed: 1/2 up"
                return self._message("BOND_STATUS_CHANGED", body, pif)
        if kind == 4:
            host = self._pick("hosts")
            if host is not None:
                body = (
                    f'[{iso(EPOCH)}] host={host["uuid"]}; host-name="{host["name_label"]}"; '
                    "pbd=; scsi_id=36001405a1b2c3d4e5f6; current=1; max=2"
                )
                return self._message("MULTIPATH_PERIODIC_ALERT", body, host)
        segment, variable, level = (
            ("srs", "physical_utilisation", 0.8),
            ("hosts", "cpu_usage", 0.9),
            ("vms", "cpu_usage", 0.95),
        )[index % 3]
        target = self._pick(segment) or self._pick("pools")
        if target is None:
            return None
        value = round(self._rng.uniform(level, 1.0), 4)
        body = ALARM_BODY.format(value=value, name=variable, level=level)
        return self._message("ALARM", body, target)

    def _plain_message(self, index: int) -> Obj | None:
        name, segment, template = MESSAGE_KINDS[index % len(MESSAGE_KINDS)]
        target = self._pick(segment)
        if target is None:
            return None
        return self._message(name, template.format(name=target["name_label"]), target)

    def _build_tasks(self) -> None:
        vms = list(self._data["vms"])
        users = list(self._data["users"])
        target = vms[0] if vms else None
        other = vms[1] if len(vms) > 1 else target
        history = (
            ("REST API: start VM", "xo:rest-api:action", target, "success", None),
            ("REST API: snapshot VM", "xo:rest-api:action", other, "success", None),
            ("API call: vm.migrate", "api.call", other, "failure", "VM_BAD_POWER_STATE"),
            ("XO user authentication", "xo:authentication:authenticateUser", None, "failure", ""),
        )
        for index, (name, kind, object_id, status, error) in enumerate(history):
            start = (EPOCH - (len(history) - index) * 3 * 3600) * 1000
            end = start + self._rng.randint(2, 40) * 1000
            properties: Obj = {"name": name, "type": kind, "userId": users[0] if users else None}
            if object_id is not None:
                properties.update(objectId=object_id, objectType="VM")
            if kind == "api.call":
                properties.update(method="vm.migrate", params={"id": object_id})
            result: Any = {"id": object_id} if status == "success" else None
            if error is not None:
                result = {"name": "XapiError", "message": error or "invalid credentials"}
                if error:
                    result["code"] = error
            task = {
                "id": self._task_id(start),
                "properties": properties,
                "start": start,
                "status": status,
                "updatedAt": end,
                "end": end,
                "result": result,
            }
            self._put("tasks", task)

    # ------------------------------------------------------------------ views

    def _alarm_view(self, message: Obj) -> Obj:
        target_id = message.get("$object") or ""
        segment = self._segment_of(target_id)
        target: Obj = {"type": "unknown", "uuid": target_id}
        if segment is not None:
            target = {
                "type": self._data[segment][target_id].get("type", XO_TYPES[segment]),
                "uuid": target_id,
                "href": f"/rest/v0/{segment}/{target_id}",
            }
        return {
            "id": message["id"],
            "uuid": message["uuid"],
            "type": "message",
            "name": message["name"],
            "$pool": message["$pool"],
            "$poolId": message["$poolId"],
            "_xapiRef": message["_xapiRef"],
            "time": message["time"] * 1000,
            "body": self._alarm_body(message),
            "object": target,
        }

    @staticmethod
    def _alarm_body(message: Obj) -> dict[str, str]:
        body = str(message.get("body", ""))
        value = ALARM_VALUE.search(body)
        variable = ALARM_VAR.search(body)
        if value is None or variable is None:
            # Not a performance alarm: XO keeps the text and names it after the message.
            return {"value": body, "name": str(message["name"])}
        return {"value": f"{float(value.group(1)) * 100:.1f}", "name": variable.group(1)}
